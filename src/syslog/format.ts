const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * RFC 3164 timestamp in local time, as glibc's syslog(3) writes it: `Mmm dd hh:mm:ss`, the day
 * padded with a space ("Jan  5"), because local daemons parse that exact shape.
 */
export function rfc3164Timestamp(at: Date): string {
  const day = at.getDate();
  return `${MONTHS[at.getMonth()]} ${day < 10 ? ` ${day}` : day} ${pad2(at.getHours())}:${pad2(at.getMinutes())}:${pad2(at.getSeconds())}`;
}

/**
 * One datagram for the local syslog socket: `<PRI>TIMESTAMP TAG[PID]: MESSAGE`. No hostname:
 * like glibc, the local daemon adds its own. Line breaks would split the record in most
 * daemons' files, so they become spaces.
 */
export function formatRfc3164(facility: number, level: number, at: Date, tag: string, pid: number, message: string): Buffer {
  const text = message.replace(/\r?\n/g, ' ');
  return Buffer.from(`<${facility * 8 + level}>${rfc3164Timestamp(at)} ${tag}[${pid}]: ${text}`, 'utf8');
}
