/*
 * `msgw store migrate` and `msgw store version`: the store's schema version,
 * and bringing it to the one this msgw knows before a daemon opens it (the
 * daemon applies pending steps itself; an operator may want to see them
 * applied first, or check what a store is at).  docs/store.md, "Schema
 * versions".
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "msgw/store/store.h"

static const char store_help[] =
    "Usage: msgw store migrate (--config FILE | --store ADDRESS)\n"
    "       msgw store version (--config FILE | --store ADDRESS)\n"
    "\n"
    "migrate applies the schema steps the store lacks, in order, and prints its schema version\n"
    "before and after; a store whose schema is newer than this msgw knows is refused\n"
    "(store.schema_newer).  version prints the store's schema version and the highest this msgw\n"
    "knows.  --config reads the store's address from the daemon's configuration; --store names\n"
    "it (sqlite:PATH, postgresql://...).\n"
    "\n"
    "Exit status: 0 done, 2 usage or store error (a newer schema among them).\n";

/* What the action does once the store is open as it is. */
static bool migrate(msgw_store *s, msgw_errors *e)
{
    int before = -1, after = -1;
    bool ok = msgw_store_migrate(s, &before, &after, e);
    if (before >= 0) printf("schema version before: %d\n", before);
    if (ok) printf("schema version after: %d\n", after);
    return ok;
}

static bool version(msgw_store *s, msgw_errors *e)
{
    int known = 0, v = msgw_store_schema_version(s, &known, e);
    if (v < 0) return false;
    printf("schema version: %d\nhighest known: %d\n", v, known);
    return true;
}

int msgw_cmd_store(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, 0, 'c'},
                                             {"store", required_argument, 0, 's'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *config = NULL, *store = NULL;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:s:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 's':
            store = optarg;
            break;
        case 'h':
            fputs(store_help, stdout);
            return MSGW_EXIT_OK;
        default:
            fputs(store_help, stderr);
            return MSGW_EXIT_USAGE;
        }
    }
    const char *action = optind == argc - 1 ? argv[optind] : "";
    bool (*run)(msgw_store *, msgw_errors *) = strcmp(action, "migrate") == 0   ? migrate
                                               : strcmp(action, "version") == 0 ? version
                                                                                : NULL;
    if (!run || (!config && !store)) {
        fputs(store_help, stderr);
        return MSGW_EXIT_USAGE;
    }
    char spec[4096];
    if (store)
        snprintf(spec, sizeof spec, "%s", store);
    else if (!msgw_cli_store_of_config(config, "store", spec, sizeof spec))
        return MSGW_EXIT_USAGE;
    msgw_errors e;
    msgw_errors_init(&e);
    msgw_store *s = msgw_store_open(spec, MSGW_STORE_AS_IS, &e);
    bool ok = s && run(s, &e);
    msgw_cli_print_errors(stderr, "msgw store: ", &e);
    msgw_store_close(&s);
    msgw_errors_clear(&e);
    return ok ? MSGW_EXIT_OK : MSGW_EXIT_USAGE;
}
