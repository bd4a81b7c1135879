{{/* Names, labels and the pieces the sidecar and the sync containers share. */}}

{{- define "dualread.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "dualread.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "dualread.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dualread.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dualread.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dualread.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dualread.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "dualread.policyConfigMap" -}}
{{- default (printf "%s-policy" (include "dualread.fullname" .)) .Values.policy.existingConfigMap -}}
{{- end -}}

{{/*
How the sync pod reaches the old store: not 127.0.0.1 (that is the API container next to each
sidecar), but the API container's port through the Service RELEASE-dualread-direct.
*/}}
{{- define "dualread.syncOldUrl" -}}
{{- if .Values.sync.upstreams.old -}}
{{- .Values.sync.upstreams.old -}}
{{- else if .Values.api.enabled -}}
{{- printf "http://%s-direct.%s.svc:%v" (include "dualread.fullname" .) .Release.Namespace (index .Values.api.container.ports 0).containerPort -}}
{{- else -}}
{{- fail "with api.enabled=false, set sync.upstreams.old: the URL at which the sync pod reaches the API of the old store directly (not through dualread)" -}}
{{- end -}}
{{- end -}}

{{/* The policy for the sync: policy.content with the upstream URLs its own pod reaches. */}}
{{- define "dualread.syncPolicy" -}}
{{- $policy := deepCopy .Values.policy.content -}}
{{- $upstreams := required "policy.content.upstreams is required" (get $policy "upstreams") -}}
{{- $_ := set (get $upstreams "old") "url" (include "dualread.syncOldUrl" .) -}}
{{- with .Values.sync.upstreams.new -}}
{{- $_ := set (get $upstreams "new") "url" . -}}
{{- end -}}
{{- toYaml $policy -}}
{{- end -}}

{{- define "dualread.redisSecret" -}}
{{- default (printf "%s-redis" (include "dualread.fullname" .)) .Values.redis.existingSecret -}}
{{- end -}}

{{- define "dualread.adminTokenSecret" -}}
{{- default (printf "%s-admin-token" (include "dualread.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{/*
The environment both commands read: the policy file, where the last good policy is kept, Redis
and the admin token (both from Secrets), the log level.
Call with (dict "root" $ "component" .Values.sidecar "policyKey" "policy.yaml" "credentials" true);
"credentials": whether the container gets credentials.env (see dualread.credentialsInSidecar).
*/}}
{{- define "dualread.env" -}}
- name: DUALREAD_POLICY
  value: /etc/dualread/{{ .policyKey }}
- name: DUALREAD_STATE_DIR
  value: /var/lib/dualread
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "dualread.redisSecret" .root }}
      key: {{ .root.Values.redis.secretKey }}
- name: DUALREAD_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "dualread.adminTokenSecret" .root }}
      key: {{ .root.Values.adminToken.secretKey }}
- name: LOG_LEVEL
  value: {{ .component.logLevel | quote }}
{{- if .credentials }}
{{- range .root.Values.credentials.env }}
- name: {{ required "credentials.env[].name is the variable an { env: NAME } header reads" .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required "credentials.env[].secretName is required" .secretName }}
      key: {{ required "credentials.env[].key is required" .key }}
{{- end }}
{{- end }}
{{- with .component.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The policy volume is the ConfigMap mounted as a whole directory, never with subPath: on an update
the kubelet swaps the directory's `..data` symlink, which dualread watches. A subPath mount would
never see the update.
*/}}
{{- define "dualread.volumeMounts" -}}
- name: dualread-policy
  mountPath: /etc/dualread
  readOnly: true
- name: dualread-state
  mountPath: /var/lib/dualread
{{- end -}}

{{/*
Secrets for upstreams.<side>.headers `{ file: PATH }`, mounted as whole directories (never subPath)
for the same reason as the policy: the kubelet rotates a Secret by swapping the directory's `..data`
symlink, and dualread reads the file again. Call with (dict "root" $ "credentials" BOOL).
*/}}
{{- define "dualread.credentialMounts" -}}
{{- if .credentials }}
{{- range $i, $f := .root.Values.credentials.files }}
- name: dualread-credentials-{{ $i }}
  mountPath: {{ required "credentials.files[].mountPath is the directory the { file: PATH } headers read from" $f.mountPath }}
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{- define "dualread.volumes" -}}
- name: dualread-policy
  configMap:
    name: {{ include "dualread.policyConfigMap" . }}
- name: dualread-state
  emptyDir:
    sizeLimit: 16Mi
{{- end -}}

{{/* The Secret volumes behind dualread.credentialMounts. Call with (dict "root" $ "credentials" BOOL). */}}
{{- define "dualread.credentialVolumes" -}}
{{- if .credentials }}
{{- range $i, $f := .root.Values.credentials.files }}
- name: dualread-credentials-{{ $i }}
  secret:
    secretName: {{ required "credentials.files[].secretName is required" $f.secretName }}
    {{- with $f.items }}
    items:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Whether the sidecars get the credentials too: they need them only for shadow reads with the
policy's shadow.credentials: upstream (read from policy.content), or when credentials.sidecar says so.
*/}}
{{- define "dualread.credentialsInSidecar" -}}
{{- if or .Values.credentials.sidecar (eq (dig "shadow" "credentials" "client" .Values.policy.content) "upstream") -}}
true
{{- end -}}
{{- end -}}

{{/* The dualread sidecar container: `dualread proxy` on the pod's network, in front of the API container. */}}
{{- define "dualread.sidecarContainer" -}}
- name: dualread
  image: {{ include "dualread.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  # The ports come from here, whatever the policy's listen and admin say: container ports, probes
  # and Services can never disagree with what dualread binds.
  args:
    - proxy
    - --listen
    - 0.0.0.0:{{ .Values.sidecar.ports.proxy }}
    - --admin
    - 0.0.0.0:{{ .Values.sidecar.ports.admin }}
  ports:
    - name: dualread
      containerPort: {{ .Values.sidecar.ports.proxy }}
      protocol: TCP
    - name: dualread-admin
      containerPort: {{ .Values.sidecar.ports.admin }}
      protocol: TCP
  {{- $credentials := eq (include "dualread.credentialsInSidecar" .) "true" }}
  env:
    {{- include "dualread.env" (dict "root" . "component" .Values.sidecar "policyKey" "policy.yaml" "credentials" $credentials) | nindent 4 }}
  volumeMounts:
    {{- include "dualread.volumeMounts" . | nindent 4 }}
    {{- include "dualread.credentialMounts" (dict "root" . "credentials" $credentials) | nindent 4 }}
  livenessProbe:
    {{- toYaml .Values.sidecar.livenessProbe | nindent 4 }}
  readinessProbe:
    {{- toYaml .Values.sidecar.readinessProbe | nindent 4 }}
  resources:
    {{- toYaml .Values.sidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.sidecar.securityContext | nindent 4 }}
{{- end -}}
