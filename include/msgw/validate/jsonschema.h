/*
 * A JSON Schema (draft 2020-12) validator for the keywords the generated
 * schemas use, built on jansson.  Debian ships no C JSON Schema library.
 * The schema is compiled once (references resolved, patterns compiled) and
 * then validates any number of instances; errors carry the JSON pointer of
 * the failing instance location and the keyword that failed.  The keywords
 * it supports and the ones it does not are listed in docs/jsonschema.md.
 */
#ifndef MSGW_JSONSCHEMA_H
#define MSGW_JSONSCHEMA_H

#include <jansson.h>
#include <stdbool.h>

#include "msgw/base/error.h"
#include "msgw/validate/schemas.h"

/*
 * Compiles schema (a borrowed reference; the validator keeps its own).  An
 * unsupported keyword, a bad regex or an unresolvable $ref is a compile
 * error in err.  resolve(uri, ud) may supply remote documents (or NULL); it
 * returns a new reference, which the validator then owns.
 */
typedef json_t *(*msgw_jsonschema_resolver)(const char *uri, void *ud);
msgw_jsonschema *msgw_jsonschema_new(json_t *schema, msgw_jsonschema_resolver resolve, void *ud,
                                     msgw_errors *err);
void msgw_jsonschema_destroy(msgw_jsonschema **s);
/*
 * Validates instance.  Each failure is added to err (if non-NULL) with the
 * record index given, location = JSON pointer of the instance, rule =
 * "jsonschema.<keyword>".  Returns true when valid.
 */
bool msgw_jsonschema_validate(const msgw_jsonschema *s, const json_t *instance, msgw_errors *err,
                              int record);

#endif
