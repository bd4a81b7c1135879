// Preloaded (`--import`) into one dualread child of the evidence section only: the same proxy with
// the fleet's evidence not recorded (no per-pair counting, no tick into Redis), so the section can
// put req/s and p99 with recording on and off side by side. The product has no such switch: its
// gates and readiness are judged on that evidence. ES modules are singletons, so patching the
// class here patches the one the CLI imports.
import { EvidenceRecorder } from '../src/evidence/recorder.ts'

EvidenceRecorder.prototype.observe = function observe() {}
EvidenceRecorder.prototype.start = function start() {}
