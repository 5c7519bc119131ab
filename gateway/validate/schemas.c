/*
 * The generated schemas, compiled once from the copies embedded in the binary
 * (tools/embed.py): every generated/<name>.xsd with libxml2, every
 * generated/<name>.schema.json with the gateway's JSON Schema validator.  Or,
 * for `msgw validate --schemas DIR`, the same names read from DIR/generated/
 * (an installed copy, /usr/share/msgw): the build's list of schemas decides
 * what must be there, so a directory missing one is an error, not a format
 * silently left unchecked.
 *
 * The schemas are self-contained by construction (tools/gen_schemas.py never
 * writes xs:import or xs:include), and compiling them must never reach for
 * the network or the file system: the XSD text is parsed here with
 * XML_PARSE_NONET and no DTD loading, and a schema that names another
 * document is refused before libxml2's schema compiler could try to load it.
 */
#include "msgw/base/embedded.h"
#include "msgw/validate/schemas.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgw/validate/jsonschema.h"

#define GENERATED_PREFIX "generated/"
#define XSD_SUFFIX ".xsd"
#define JSON_SCHEMA_SUFFIX ".schema.json"
#define XS_NAMESPACE "http://www.w3.org/2001/XMLSchema"

typedef struct xsd_entry {
    const char *name; /* output name, e.g. "mca-roster.xsd" (points into the embedded table) */
    xmlDocPtr doc;    /* kept alive for the schema: libxml2 keeps pointers into it */
    xmlSchemaPtr schema;
} xsd_entry;

typedef struct json_entry {
    const char *name;
    msgw_jsonschema *schema;
} json_entry;

struct msgw_schemas {
    xsd_entry *xsd;
    size_t nxsd;
    json_entry *json;
    size_t njson;
};

/* One schema's text, from the binary or from a file. */
typedef struct schema_text {
    const char *name;  /* "mca-roster.xsd" */
    const char *where; /* what errors name it after: "generated/" or "DIR/generated/" */
    const char *data;
    size_t len;
} schema_text;

/* Where a libxml2 message goes while one schema is compiled. */
typedef struct compile_sink {
    msgw_errors *err;
    const char *where;
    const char *name;
} compile_sink;

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const char *generated_name(const msgw_embedded_file *f)
{
    size_t n = strlen(GENERATED_PREFIX);
    return strncmp(f->name, GENERATED_PREFIX, n) == 0 ? f->name + n : NULL;
}

/* libxml2 2.12 made the error argument const; accept both. */
#if LIBXML_VERSION >= 21200
typedef const xmlError *xml_error_arg;
#else
typedef xmlErrorPtr xml_error_arg;
#endif

static void strip_newline(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Location "generated/<name>:<line>": the file, as a compiler would name it. */
static void add_xml_error(compile_sink *sink, const char *rule, int line, const char *message)
{
    char loc[4200], msg[1024];
    if (line > 0)
        snprintf(loc, sizeof loc, "%s%s:%d", sink->where, sink->name, line);
    else
        snprintf(loc, sizeof loc, "%s%s", sink->where, sink->name);
    snprintf(msg, sizeof msg, "%s", message ? message : "unknown libxml2 error");
    strip_newline(msg);
    msgw_error_add(sink->err, -1, loc, NULL, rule, "%s", msg);
}

static void on_schema_parser_error(void *ud, xml_error_arg e)
{
    if (e->level == XML_ERR_WARNING)
        return;
    add_xml_error(ud, "schemas.xsd_compile", e->line, e->message);
}

/* True if the schema document pulls in another document (xs:import / include / redefine). */
static bool names_other_documents(xmlDocPtr doc)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || !n->ns || !xmlStrEqual(n->ns->href, BAD_CAST XS_NAMESPACE))
            continue;
        if (xmlStrEqual(n->name, BAD_CAST "import") || xmlStrEqual(n->name, BAD_CAST "include") ||
            xmlStrEqual(n->name, BAD_CAST "redefine") || xmlStrEqual(n->name, BAD_CAST "override"))
            return true;
    }
    return false;
}

static xmlDocPtr read_schema_document(const schema_text *t, compile_sink *sink)
{
    xmlParserCtxtPtr pc = xmlNewParserCtxt();
    if (!pc) {
        add_xml_error(sink, "schemas.xsd_parse", 0, "out of memory");
        return NULL;
    }
    /* No network, no DTD loading, no entity substitution; errors are collected, not printed. */
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    xmlDocPtr doc = xmlCtxtReadMemory(pc, t->data, (int)t->len, sink->name, NULL, opts);
    if (!doc) {
        xml_error_arg e = xmlCtxtGetLastError(pc);
        add_xml_error(sink, "schemas.xsd_parse", e ? e->line : 0, e ? e->message : NULL);
    } else if (names_other_documents(doc)) {
        add_xml_error(sink, "schemas.xsd_self_contained", 0,
                      "the schema imports or includes another document; generated schemas must "
                      "be self-contained");
        xmlFreeDoc(doc);
        doc = NULL;
    }
    xmlFreeParserCtxt(pc);
    return doc;
}

static bool compile_xsd(xsd_entry *out, const schema_text *t, msgw_errors *err)
{
    compile_sink sink = {err, t->where, t->name};
    size_t before = err->nerrors;
    xmlDocPtr doc = read_schema_document(t, &sink);
    if (!doc)
        return false;
    xmlSchemaParserCtxtPtr pc = xmlSchemaNewDocParserCtxt(doc);
    xmlSchemaPtr schema = NULL;
    if (pc) {
        xmlSchemaSetParserStructuredErrors(pc, on_schema_parser_error, &sink);
        schema = xmlSchemaParse(pc);
        xmlSchemaFreeParserCtxt(pc);
    }
    if (!schema) {
        if (err->nerrors == before)
            add_xml_error(&sink, "schemas.xsd_compile", 0, "libxml2 could not compile the schema");
        xmlFreeDoc(doc);
        return false;
    }
    *out = (xsd_entry){t->name, doc, schema};
    return true;
}

/* Location "generated/<name>#<pointer into the schema>" for the validator's compile errors. */
static void add_json_error(msgw_errors *err, const schema_text *t, const msgw_error *e)
{
    char loc[4608];
    snprintf(loc, sizeof loc, "%s%s%s%s", t->where, t->name, e->location ? "#" : "",
             e->location ? e->location : "");
    msgw_errors_add(err, e->severity, -1, loc, e->field, e->rule, "%s", e->message);
}

static bool compile_json_schema(json_entry *out, const schema_text *t, msgw_errors *err)
{
    json_error_t je;
    json_t *doc = json_loadb(t->data, t->len, 0, &je);
    if (!doc) {
        char loc[4200];
        snprintf(loc, sizeof loc, "%s%s:%d:%d", t->where, t->name, je.line, je.column);
        msgw_error_add(err, -1, loc, NULL, "schemas.json_parse", "%s", je.text);
        return false;
    }
    msgw_errors local;
    msgw_errors_init(&local);
    msgw_jsonschema *schema = msgw_jsonschema_new(doc, NULL, NULL, &local);
    json_decref(doc);
    for (size_t i = 0; i < local.n; i++)
        add_json_error(err, t, &local.v[i]);
    if (!schema && local.nerrors == 0)
        msgw_error_add(err, -1, t->name, NULL, "schemas.json_compile", "could not compile");
    msgw_errors_clear(&local);
    if (!schema)
        return false;
    *out = (json_entry){t->name, schema};
    return true;
}

static void count_generated(size_t *nxsd, size_t *njson)
{
    *nxsd = *njson = 0;
    for (const msgw_embedded_file *f = msgw_embedded_files(); f->name; f++) {
        const char *name = generated_name(f);
        if (name && has_suffix(name, XSD_SUFFIX))
            ++*nxsd;
        else if (name && has_suffix(name, JSON_SCHEMA_SUFFIX))
            ++*njson;
    }
}

/* A whole file, NUL-terminated, into *data; false after saying why. */
static bool read_whole(const char *path, char **data, size_t *len, msgw_errors *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        msgw_error_add(err, -1, path, NULL, "schemas.read",
                       "cannot read the schema (%s); this build has it", strerror(errno));
        return false;
    }
    size_t cap = 65536, n = 0, r;
    char *buf = malloc(cap);
    if (!buf) abort();
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n == cap - 1 && !(buf = realloc(buf, cap *= 2))) abort();
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        msgw_error_add(err, -1, path, NULL, "schemas.read", "read error");
        free(buf);
        return false;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return true;
}

/* Compiles the build's generated schemas: the embedded copies (dir NULL) or dir's. */
static msgw_schemas *schemas_compile(const char *dir, msgw_errors *err)
{
    size_t nxsd, njson;
    count_generated(&nxsd, &njson);
    msgw_schemas *s = calloc(1, sizeof *s);
    if (s) {
        s->xsd = calloc(nxsd ? nxsd : 1, sizeof *s->xsd);
        s->json = calloc(njson ? njson : 1, sizeof *s->json);
    }
    if (!s || !s->xsd || !s->json) {
        msgw_error_add(err, -1, NULL, NULL, "schemas.memory", "out of memory compiling schemas");
        msgw_schemas_destroy(&s);
        return NULL;
    }
    char where[4096];
    snprintf(where, sizeof where, "%s%s" GENERATED_PREFIX, dir ? dir : "", dir ? "/" : "");
    bool ok = true;
    for (const msgw_embedded_file *f = msgw_embedded_files(); f->name; f++) {
        const char *name = generated_name(f);
        bool xsd = name && has_suffix(name, XSD_SUFFIX);
        if (!xsd && !(name && has_suffix(name, JSON_SCHEMA_SUFFIX)))
            continue;
        schema_text t = {name, where, f->data, f->len};
        char *file = NULL, path[4400];
        snprintf(path, sizeof path, "%s%s", where, name);
        if (dir && !read_whole(path, &file, &t.len, err)) {
            ok = false;
            continue;
        }
        if (file)
            t.data = file;
        if (xsd && compile_xsd(&s->xsd[s->nxsd], &t, err))
            s->nxsd++;
        else if (!xsd && compile_json_schema(&s->json[s->njson], &t, err))
            s->njson++;
        else
            ok = false;
        free(file);
    }
    if (!ok)
        msgw_schemas_destroy(&s);
    return s;
}

msgw_schemas *msgw_schemas_new(msgw_errors *err)
{
    return schemas_compile(NULL, err);
}

msgw_schemas *msgw_schemas_new_from_dir(const char *dir, msgw_errors *err)
{
    return schemas_compile(dir, err);
}

void msgw_schemas_destroy(msgw_schemas **ps)
{
    if (!ps || !*ps)
        return;
    msgw_schemas *s = *ps;
    for (size_t i = 0; s->xsd && i < s->nxsd; i++) {
        xmlSchemaFree(s->xsd[i].schema);
        xmlFreeDoc(s->xsd[i].doc);
    }
    for (size_t i = 0; s->json && i < s->njson; i++)
        msgw_jsonschema_destroy(&s->json[i].schema);
    free(s->xsd);
    free(s->json);
    free(s);
    *ps = NULL;
}

void *msgw_schemas_xsd(const msgw_schemas *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->nxsd; i++)
        if (strcmp(s->xsd[i].name, name) == 0)
            return s->xsd[i].schema;
    return NULL;
}

const msgw_jsonschema *msgw_schemas_json(const msgw_schemas *s, const char *name)
{
    for (size_t i = 0; s && name && i < s->njson; i++)
        if (strcmp(s->json[i].name, name) == 0)
            return s->json[i].schema;
    return NULL;
}
