/*
 * The files built into the binary (tools/embed.py): the dictionary, code
 * lists, catalogues, the schemas generated from them and the dashboard, so
 * the gateway needs nothing beside its executable.
 */
#ifndef MSGW_EMBEDDED_H
#define MSGW_EMBEDDED_H

#include <stddef.h>

typedef struct msgw_embedded_file {
    const char *name; /* path relative to schemas/, e.g. "generated/mca-roster.xsd" */
    const char *data;
    size_t len;
} msgw_embedded_file;
const msgw_embedded_file *msgw_embedded_files(void); /* terminated by name == NULL */
const msgw_embedded_file *msgw_embedded_find(const char *name);

#endif
