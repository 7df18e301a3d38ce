/*
 * cmd.h: the subcommands of the certfleet binary. Each takes the arguments after
 * its own name (argv[0] is the subcommand) and returns the process exit code.
 */
#ifndef CERTFLEET_CMD_H
#define CERTFLEET_CMD_H

int cmd_serve(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_issue(int argc, char **argv);
int cmd_dns(int argc, char **argv);
int cmd_alias(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_ctl(int argc, char **argv);

#endif
