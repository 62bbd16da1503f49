// auditd for the benchmark, configured as Wazuh's whodata uses it, and the kernel's audit state
// put back afterwards.
//
// Wazuh's agent writes an af_unix dispatcher plugin (builtin_af_unix, string format) into
// auditd's plugin directory, restarts auditd, adds `-w DIR -p wa -k <key>` for each whodata
// directory and reads the events from the socket. Here auditd runs with a private copy of the
// distribution's auditd.conf (-c DIR) whose only changes are where the log and the plugin
// directory are, so nothing under /etc/audit is touched; its rules are the distribution's
// defaults (-b 8192, --backlog_wait_time 60000, -f 1) plus the watch.
//
// Two kernel facts shape what "leaving the machine as it was" can mean:
// - auditd does not disable audit when it stops: the harness does, and restores the backlog
//   settings it changed.
// - Once audit has been enabled since boot (audit_ever_enabled), the kernel gives every process
//   forked afterwards an audit context, so all its syscalls take the slow path, until reboot. No
//   one can undo that. A `-a task,never` rule is what keeps a new process free of it, so it is
//   held while the other monitors run (their workloads then run as on a machine that never
//   enabled audit), and the configuration "no monitor, audit context" measures what is left.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const AUDIT_KEY = 'fim-bench';
const AUDITCTL = 'auditctl';

function auditctl(args, { quiet = false } = {}) {
  try {
    return execFileSync(AUDITCTL, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (quiet) return null;
    throw new Error(`auditctl ${args.join(' ')}: ${(e.stderr || e.message).toString().trim()}`);
  }
}

export function auditStatus() {
  const out = auditctl(['-s']);
  const st = {};
  for (const line of out.split('\n')) {
    const m = /^(\w+) (\d+)/.exec(line);
    if (m) st[m[1]] = Number(m[2]);
  }
  return st;
}

export function auditRules() {
  return auditctl(['-l']).trim();
}

export function findAuditd() {
  for (const p of ['/usr/sbin/auditd', '/sbin/auditd']) if (fs.existsSync(p)) return p;
  return null;
}

// kauditd, the kernel thread that hands records to auditd: its CPU is part of auditd's cost
export function kauditdPid() {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'kauditd') return Number(d);
    } catch {}
  }
  return null;
}

export class AuditControl {
  // stateDir: where auditd's private configuration goes (only needed to run auditd)
  constructor(stateDir = null) {
    this.confDir = stateDir && path.join(stateDir, 'audit-conf');
    this.socket = stateDir && path.join(this.confDir, 'dispatcher.sock');
    this.logDir = null;
    this.saved = null;
    this.watching = null;
    this.taskNever = false;
    this.auditdPid = null;
  }

  // Audit must be idle: no daemon, disabled, no rules. Anything else belongs to someone.
  check() {
    const st = auditStatus();
    const rules = auditRules();
    if (st.enabled !== 0) return `audit is enabled (auditctl -s: enabled ${st.enabled})`;
    if (st.pid) return `an audit daemon is running (pid ${st.pid})`;
    if (rules !== 'No rules') return `audit rules are loaded (auditctl -l: ${rules.split('\n')[0]} ...)`;
    this.saved = st;
    return null;
  }

  // The private configuration: the distribution's auditd.conf with the log in a directory of
  // its own on the same disk as /var/log (where a real auditd writes) and our plugin directory.
  writeConfig() {
    const base = fs.existsSync('/etc/audit/auditd.conf') ? fs.readFileSync('/etc/audit/auditd.conf', 'utf8') : '';
    this.logDir = fs.mkdtempSync('/var/log/fim-bench-audit.');
    const settings = base.split('\n').filter((l) => /^\s*\w+\s*=/.test(l) && !/^\s*(log_file|plugin_dir)\s*=/.test(l));
    settings.push(`log_file = ${path.join(this.logDir, 'audit.log')}`, `plugin_dir = ${path.join(this.confDir, 'plugins.d')}`);
    fs.mkdirSync(path.join(this.confDir, 'plugins.d'), { recursive: true, mode: 0o750 });
    fs.writeFileSync(path.join(this.confDir, 'auditd.conf'), `${settings.join('\n')}\n`, { mode: 0o640 });
    fs.writeFileSync(
      path.join(this.confDir, 'plugins.d', 'af_bench.conf'),
      ['active = yes', 'direction = out', 'path = builtin_af_unix', 'type = builtin', `args = 0640 ${this.socket}`, 'format = string', ''].join('\n'),
      { mode: 0o640 },
    );
    return settings;
  }

  auditdArgv() {
    // -n: no fork, so it stays the harness's child; otherwise as a service runs it (-f would
    // write the events to stderr instead of the log). Its own messages, the dispatcher's
    // "queue is full" among them, go to syslog.
    return [findAuditd(), '-n', '-c', this.confDir];
  }

  // auditd is up: the distribution's default rules, then the watch
  afterStart(watched, pid) {
    this.auditdPid = pid;
    auditctl(['-b', '8192', '--backlog_wait_time', '60000', '-f', '1']);
    auditctl(['-w', watched, '-p', 'wa', '-k', AUDIT_KEY]);
    this.watching = watched;
  }

  deleteWatch() {
    if (this.watching) auditctl(['-W', this.watching, '-p', 'wa', '-k', AUDIT_KEY], { quiet: true });
    this.watching = null;
  }

  // after auditd has exited: audit off again, the settings as they were
  restore() {
    this.deleteWatch();
    if (!this.saved) return;
    auditctl(['-e', String(this.saved.enabled)], { quiet: true });
    auditctl(['-b', String(this.saved.backlog_limit), '--backlog_wait_time', String(this.saved.backlog_wait_time), '-f', String(this.saved.failure), '-r', String(this.saved.rate_limit)], { quiet: true });
  }

  // Sets audit_ever_enabled before any sample, so every configuration of the run sees the same
  // kernel (it is set for good the first time auditd starts anyway).
  prime() {
    auditctl(['-e', '1']);
    auditctl(['-e', String(this.saved.enabled)]);
  }

  holdTaskNever() {
    if (this.taskNever) return;
    auditctl(['-a', 'task,never']);
    this.taskNever = true;
  }

  releaseTaskNever() {
    if (!this.taskNever) return;
    auditctl(['-d', 'task,never'], { quiet: true });
    this.taskNever = false;
  }

  lost() {
    return auditStatus().lost;
  }

  // Synchronous, for the exit and signal paths: whatever state a run stopped in, the daemon is
  // stopped by its pid, the rules deleted, audit disabled and the settings restored.
  cleanup() {
    this.releaseTaskNever();
    this.deleteWatch();
    if (this.auditdPid) {
      try {
        process.kill(this.auditdPid, 'SIGTERM');
        for (let i = 0; i < 300; i++) {
          process.kill(this.auditdPid, 0);
          execFileSync('sleep', ['0.01']);
        }
        process.kill(this.auditdPid, 'SIGKILL');
      } catch {}
      this.auditdPid = null;
    }
    this.restore();
    if (this.logDir) {
      fs.rmSync(this.logDir, { recursive: true, force: true });
      this.logDir = null;
    }
  }
}

// For a benchmark that does not run auditd: keeps the processes it starts free of an audit
// context (see the top of this file), whatever ran before it since boot. Returns the control
// to release at the end, or null when auditctl is missing or audit is in use: then nothing is
// touched, and new processes get a context if audit was ever enabled.
export function keepNewProcessesUnaudited() {
  try {
    execFileSync(AUDITCTL, ['-v'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const a = new AuditControl();
  if (a.check()) return null;
  a.holdTaskNever();
  return a;
}
