/*
 * dns_cmd.h: `certfleet dns ...`, the operator's view of what certfleet sees in
 * DNS and a way to drive a DNS provider by hand:
 *
 *   certfleet dns txt NAME [--resolver H[:P]]...
 *   certfleet dns chain NAME [--resolver ...]
 *   certfleet dns zone NAME [--resolver ...]
 *   certfleet dns present|cleanup FQDN VALUE --provider NAME
 *            [--provider-setting K=V]... [--resolver ...] [--timeout-ms N]
 *   certfleet dns wait FQDN VALUE [FQDN VALUE]... [--propagation authoritative|resolvers]
 *            [--resolver ...] [--timeout-ms N]
 *
 * Options may come before or after the arguments; only exact option names are
 * options, so a TXT value starting with '-' is still a value ("--" ends options).
 * argv[0] is "dns" (as main.c passes it). Returns the exit code: 0 on success,
 * 1 with the error on stderr, 2 for a usage error.
 */
#ifndef CERTFLEET_CMD_DNS_CMD_H
#define CERTFLEET_CMD_DNS_CMD_H

int cmd_dns(int argc, char **argv);

#endif
