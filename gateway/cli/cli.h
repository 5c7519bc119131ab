/* The msgw command-line commands (one function each); main.c dispatches. */
#ifndef MSGW_CLI_H
#define MSGW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "msgw/base/error.h"

int msgw_cmd_validate(int argc, char **argv);
int msgw_cmd_normalize(int argc, char **argv);
int msgw_cmd_adapters(int argc, char **argv);
int msgw_cmd_routes(int argc, char **argv);
int msgw_cmd_person(int argc, char **argv);
int msgw_cmd_catalogue(int argc, char **argv);
int msgw_cmd_eval(int argc, char **argv);
int msgw_cmd_serve(int argc, char **argv);
int msgw_cmd_audit(int argc, char **argv);
int msgw_cmd_trace(int argc, char **argv);
int msgw_cmd_admin(int argc, char **argv);
int msgw_cmd_store(int argc, char **argv);

/* Reads a whole file ("-" = stdin), refusing more than limit bytes; NULL after saying why. */
char *msgw_cli_read(const char *path, size_t limit, size_t *len);

/* The adapter's media type that fits a file name (".csv" picks its CSV type, and so on), else its
 * first: how validate, normalize and eval read a file given without --media-type. */
struct msgw_adapter;
const char *msgw_cli_media_type(const struct msgw_adapter *ad, const char *path);

/* The dictionary built into msgw, or the one in schemas_dir (--schemas: dictionary.json and
 * codelists/, as installed in /usr/share/msgw); NULL with the reason in err. */
struct msgw_dict;
struct msgw_dict *msgw_cli_dict(const char *schemas_dir, msgw_errors *err);

/* Each of e's entries on f as "PREFIXerror: ..." or "PREFIXwarning: ...". */
void msgw_cli_print_errors(FILE *f, const char *prefix, const msgw_errors *e);

/* The address of the store the daemon's configuration at path names (msgw_store_address) into
 * spec; false after printing why not, as "msgw COMMAND: ...". */
bool msgw_cli_store_of_config(const char *path, const char *command, char *spec, size_t len);

/* Exit codes shared by the commands. */
enum { MSGW_EXIT_OK = 0, MSGW_EXIT_INVALID = 1, MSGW_EXIT_USAGE = 2 };

#endif
