/*
 * The schemas generated from the dictionary at build time (XSD for the XML
 * formats, JSON Schema 2020-12 for the JSON ones), embedded in the binary and
 * compiled once.  Adapters validate documents against them before mapping.
 */
#ifndef MSGW_SCHEMAS_H
#define MSGW_SCHEMAS_H

#include <stddef.h>

#include "msgw/base/error.h"

typedef struct msgw_schemas msgw_schemas;
typedef struct msgw_jsonschema msgw_jsonschema;

/* Compiles every embedded schema. */
msgw_schemas *msgw_schemas_new(msgw_errors *err);
/* Compiles the same schemas from dir/generated/ (an installed copy such as /usr/share/msgw);
 * one missing or not compiling is an error. */
msgw_schemas *msgw_schemas_new_from_dir(const char *dir, msgw_errors *err);
void msgw_schemas_destroy(msgw_schemas **s);
/* libxml2 xmlSchemaPtr for a generated XSD, e.g. "mca-roster.xsd"; NULL if unknown. */
void *msgw_schemas_xsd(const msgw_schemas *s, const char *name);
/* Compiled JSON Schema, e.g. "hrss.schema.json"; NULL if unknown. */
const msgw_jsonschema *msgw_schemas_json(const msgw_schemas *s, const char *name);

#endif
