// The nginx the bench compares with: one worker, keep-alive connections to the upstream (as many
// idle ones kept as dualread's default pool has), no access log, in the foreground (`daemon
// off`) so the bench owns the process. Every path nginx writes is under the `-p` prefix the
// bench gives it (a temporary folder), so it never touches the system's nginx.

/** dualread's default read pool (`connections: 64`); the other proxies get the same. */
const KEEPALIVE_CONNECTIONS = 64
const KEEPALIVE_TIMEOUT_S = 65

export interface NginxTarget {
  /** host:port nginx listens on. */
  listen: string
  /** host:port of the upstream. */
  upstream: string
}

export function nginxConfig(o: NginxTarget): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  keepalive_timeout ${KEEPALIVE_TIMEOUT_S}s;
  keepalive_requests 1000000;
  upstream backend {
    server ${o.upstream};
    keepalive ${KEEPALIVE_CONNECTIONS};
    keepalive_requests 1000000;
    keepalive_timeout ${KEEPALIVE_TIMEOUT_S}s;
  }
  server {
    listen ${o.listen};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`
}
