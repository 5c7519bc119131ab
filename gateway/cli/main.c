/*
 * msgw: the Minsheng Gateway command.  Dispatches to the subcommands; each
 * lives in its own function with its own --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "msgw - Minsheng Gateway: departmental records in, canonical records out\n"
    "\n"
    "Usage: msgw COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Commands:\n"
    "  validate   check department documents against the data dictionary\n"
    "  normalize  turn department documents into canonical JSON\n"
    "  adapters   list the department formats and media types of this build\n"
    "  routes     list the HTTP routes of this build, by listener (docs/openapi.yaml)\n"
    "  catalogue  check a service catalogue, show a service's rule and parameters\n"
    "  eval       evaluate records against a catalogue: verdicts and transitions, explained\n"
    "  serve      run the gateway daemon (HTTPS ingress with mutual TLS)\n"
    "  audit      verify the hash-chained audit log; record or prune entries (operators)\n"
    "  trace      one message end to end: received, facts, verdicts, deliveries\n"
    "  store      the store's schema version; apply its pending migrations\n"
    "  admin      a running gateway's status, certificates and dead letters (administrators)\n"
    "  person     a person's disclosure record: what is held, decided and given to whom\n"
    "  version    print the version\n"
    "\n"
    "Run 'msgw COMMAND --help' for a command's options.\n"
    "Exit status: 0 all records valid, 1 some record invalid, 2 usage or I/O error.\n";

static const struct {
    const char *name;
    int (*fn)(int, char **);
} commands[] = {
    {"validate", msgw_cmd_validate},
    {"normalize", msgw_cmd_normalize},
    {"adapters", msgw_cmd_adapters},
    {"routes", msgw_cmd_routes},
    {"catalogue", msgw_cmd_catalogue},
    {"eval", msgw_cmd_eval},
    {"serve", msgw_cmd_serve},
    {"audit", msgw_cmd_audit},
    {"trace", msgw_cmd_trace},
    {"store", msgw_cmd_store},
    {"admin", msgw_cmd_admin},
    {"person", msgw_cmd_person},
};

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MSGW_EXIT_USAGE : MSGW_EXIT_OK;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("msgw %s\n", MSGW_VERSION);
        return MSGW_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "msgw: unknown command '%s'\n\n%s", argv[1], usage);
    return MSGW_EXIT_USAGE;
}
