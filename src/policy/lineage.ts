/**
 * Lineage analysis: what the process and its ancestors say about the detection. Pure and deterministic,
 * so it can run in an activity today and in a policy engine later with the same result.
 */
import type { DetectionEvent } from '../events/detection-event.js';
import type { LineageFlag } from '../contracts/playbook.js';

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'csh', 'tcsh', 'fish', 'ash', 'busybox']);
/** Long-running services that should not start shells. */
const SERVICES = new Set([
  'nginx',
  'httpd',
  'apache2',
  'php-fpm',
  'php',
  'java',
  'node',
  'tomcat',
  'lighttpd',
  'caddy',
  'uwsgi',
  'gunicorn',
  'mysqld',
  'postgres',
  'redis-server',
  'mongod',
  'sshd',
  'vsftpd',
  'proftpd',
  'named',
  'dovecot',
  'exim4',
  'postfix',
  'smbd',
  'jenkins',
  'ruby',
  'puma',
  'python',
  'python3',
  'perl',
]);
const NET_TOOLS = new Set([
  'nc',
  'ncat',
  'netcat',
  'socat',
  'telnet',
  'nmap',
  'curl',
  'wget',
  'tftp',
  'ssh',
  'scp',
]);
const WRITABLE = [/^\/tmp\//, /^\/var\/tmp\//, /^\/dev\/shm\//, /^\/run\/user\//, /^\/home\/[^/]+\/\./];
const SENSITIVE = [
  /^\/etc\/shadow$/,
  /^\/etc\/sudoers/,
  /^\/etc\/pam\./,
  /^\/root\/\.ssh\//,
  /\/\.ssh\/(id_|authorized_keys)/,
  /^\/etc\/passwd$/,
];
const REVERSE_SHELL = [
  /\/dev\/tcp\//,
  /\/dev\/udp\//,
  /\bnc(at)?\b.*\s-[a-z]*e\s/,
  /\bsocat\b.*exec:/i,
  /\bbash\s+-i\b.*[<>]&/,
  /\bpty\.spawn\(/,
  /\bsocket\.socket\(.*connect/,
  /\bmkfifo\b.*\bnc\b/,
];
const DOWNLOAD_EXEC = [/\b(curl|wget)\b[^|;]*\|\s*(ba|da|z)?sh\b/, /\b(curl|wget)\b.*(&&|;)\s*chmod\s+\+x/];

function baseName(p: string | undefined): string | undefined {
  if (!p) return undefined;
  const b = p.split('/').pop();
  return b ? b.toLowerCase() : undefined;
}

export function lineageNames(ev: DetectionEvent): string[] {
  const p = ev.process;
  if (!p) return [];
  const self = p.name ?? baseName(p.executable);
  const chain = [self, ...p.ancestors.map((a) => a.name ?? baseName(a.executable))];
  return chain.filter((x): x is string => !!x);
}

export function lineageFlags(ev: DetectionEvent): LineageFlag[] {
  const flags = new Set<LineageFlag>();
  const p = ev.process;
  const names = lineageNames(ev).map((n) => n.toLowerCase());
  const self = names[0];
  const parent = names[1];
  const cmd = [p?.commandLine, ...(p?.ancestors.map((a) => a.commandLine) ?? [])].filter(Boolean).join('\n');

  if (self && SHELLS.has(self) && parent && SERVICES.has(parent)) flags.add('shell-spawned-by-service');
  if (REVERSE_SHELL.some((r) => r.test(cmd))) flags.add('reverse-shell-pattern');
  if (DOWNLOAD_EXEC.some((r) => r.test(cmd))) flags.add('download-and-execute');
  if (p?.executable && WRITABLE.some((r) => r.test(p.executable ?? ''))) flags.add('exec-from-writable-dir');
  if (self && NET_TOOLS.has(self)) flags.add('network-tool');
  if (self && SHELLS.has(self) && p?.tty !== undefined && p.tty !== 0) flags.add('interactive-shell');
  const uid = p?.user?.uid ?? ev.user?.uid;
  const uname = p?.user?.name ?? ev.user?.name;
  if (uid === 0 || uname === 'root') flags.add('privileged-user');
  if (ev.container?.id) flags.add('in-container');
  if (ev.file?.path && SENSITIVE.some((r) => r.test(ev.file?.path ?? ''))) flags.add('sensitive-file');
  return [...flags];
}
