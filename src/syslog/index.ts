export { FACILITIES, LEVELS, parseFacility, parseLevel } from './names.js';
export { formatRfc3164, rfc3164Timestamp } from './format.js';
export { DEFAULT_SYSLOG_SOCKET, openSyslog } from './socket.js';
export type { Syslog, SyslogOptions } from './socket.js';
