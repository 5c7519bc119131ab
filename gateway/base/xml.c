/*
 * Safe XML for the adapters.  Departments' documents are untrusted: a
 * DOCTYPE is refused before libxml2 sees the bytes (that closes external
 * entities, DTD loading and entity-expansion bombs at once, since a valid
 * department document never needs one), the network is off, and nesting is
 * bounded.  XSD violations come back located by XPath and line.
 */
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "msgw/base/xml.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
    xmlInitParser();
}

void msgw_xml_init(void)
{
    pthread_once(&xml_once, xml_init_once);
}

static const char *find_bytes(const char *h, size_t hlen, const char *n)
{
    size_t nlen = strlen(n);
    return h && nlen <= hlen ? memmem(h, hlen, n, nlen) : NULL;
}

static int line_of_offset(const char *buf, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++)
        if (buf[i] == '\n') line++;
    return line;
}

/* Silences libxml2's default printing to stderr; errors are read from the context. */
static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static unsigned tree_depth(xmlNodePtr root)
{
    unsigned depth = 0, max = 0;
    xmlNodePtr n = root;
    while (n) {
        if (n->type == XML_ELEMENT_NODE && depth + 1 > max) max = depth + 1;
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            depth++;
            continue;
        }
        while (n && !n->next) {
            n = n->parent;
            if (!n || n->type == XML_DOCUMENT_NODE) return max;
            depth--;
        }
        if (n) n = n->next;
    }
    return max;
}

static void trim_message(char *m)
{
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' ')) m[--n] = '\0';
}

static void index_siblings(xmlNodePtr root);

xmlDocPtr msgw_xml_parse(const char *buf, size_t len, unsigned max_depth, msgw_errors *e)
{
    msgw_xml_init();
    const char *dt = find_bytes(buf, len, "<!DOCTYPE");
    if (!dt) dt = find_bytes(buf, len, "<!ENTITY");
    if (dt) {
        char loc[32];
        snprintf(loc, sizeof loc, "line %d", line_of_offset(buf, (size_t)(dt - buf)));
        msgw_error_add(e, -1, loc, NULL, "xml.doctype",
                       "document type declarations are not accepted (no DTDs, no entities: "
                       "XXE and entity expansion are refused)");
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        msgw_error_add(e, -1, NULL, NULL, "xml.size", "document too large");
        return NULL;
    }
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt) abort();
    xmlSetGenericErrorFunc(NULL, quiet);
    ctxt->sax->error = quiet;
    ctxt->sax->warning = quiet;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
                                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                          XML_PARSE_NOCDATA | XML_PARSE_COMPACT | XML_PARSE_BIG_LINES);
    if (!doc || !ctxt->wellFormed) {
        const xmlError *err = xmlCtxtGetLastError(ctxt);
        char loc[32] = "";
        char msg[512] = "not well-formed XML";
        if (err) {
            snprintf(loc, sizeof loc, "line %d, column %d", err->line, err->int2);
            if (err->message) snprintf(msg, sizeof msg, "%s", err->message);
            trim_message(msg);
        }
        msgw_error_add(e, -1, loc[0] ? loc : NULL, NULL, "xml.not_well_formed", "%s", msg);
        if (doc) xmlFreeDoc(doc);
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    xmlFreeParserCtxt(ctxt);
    if (max_depth && tree_depth(xmlDocGetRootElement(doc)) > max_depth) {
        msgw_error_add(e, -1, NULL, NULL, "xml.depth", "elements nested deeper than %u levels",
                       max_depth);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc; /* the sibling index waits for the first location asked for */
}

/*
 * Each element's position among its same-named siblings, computed once per
 * document and kept in the node's _private (index << 1 | several).  Walking
 * siblings per location instead made every roster quadratic: a 20,000-event
 * document spent 95% of its decode counting siblings.  Built when the first
 * location is asked for (the document's _private marks it done): a valid
 * document whose decoder spells no XPath never pays for it.
 */
#define SIB_NAMES 32

static void index_children(xmlNodePtr parent)
{
    const xmlChar *names[SIB_NAMES];
    intptr_t counts[SIB_NAMES];
    size_t n = 0;
    for (xmlNodePtr c = parent->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        size_t i = 0;
        while (i < n && !xmlStrEqual(names[i], c->name)) i++;
        if (i == n) {
            if (n == SIB_NAMES) { /* rare wide parents: index 0 = unknown, computed on demand */
                c->_private = NULL;
                continue;
            }
            names[n] = c->name;
            counts[n++] = 0;
        }
        c->_private = (void *)(++counts[i] << 1);
    }
    for (xmlNodePtr c = parent->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !c->_private) continue;
        for (size_t i = 0; i < n; i++)
            if (xmlStrEqual(names[i], c->name) && counts[i] > 1) c->_private = (void *)((intptr_t)c->_private | 1);
    }
}

static void index_siblings(xmlNodePtr root)
{
    if (!root) return;
    root->_private = (void *)(intptr_t)(1 << 1);
    for (xmlNodePtr n = root; n;) {
        if (n->type == XML_ELEMENT_NODE && n->children) {
            index_children(n);
            n = n->children;
            continue;
        }
        while (n && !n->next) {
            n = n->parent;
            if (!n || n == root->parent) return;
        }
        if (n) n = n->next;
    }
}

static bool same_element(xmlNodePtr a, xmlNodePtr b)
{
    return a->type == XML_ELEMENT_NODE && strcmp((const char *)a->name, (const char *)b->name) == 0;
}

/* Position among same-named element siblings (1-based); *several when it has any. */
int msgw_xml_sibling_position(xmlNodePtr n, bool *several)
{
    if (n->doc && !n->doc->_private) {
        index_siblings(xmlDocGetRootElement(n->doc));
        n->doc->_private = n->doc; /* indexed */
    }
    intptr_t cached = (intptr_t)n->_private;
    if (cached > 1) {
        *several = cached & 1;
        return (int)(cached >> 1);
    }
    int idx = 1;
    for (xmlNodePtr s = n->prev; s; s = s->prev)
        if (same_element(s, n)) idx++;
    *several = idx > 1;
    for (xmlNodePtr s = n->next; s && !*several; s = s->next) *several = same_element(s, n);
    return idx;
}

/*
 * "/Roster/Household[2]/Member[1]/SFZH (line 14)": local names, not
 * the star-and-index steps xmlGetNodePath gives namespaced documents, so a department
 * engineer can read where the problem is.
 */
char *msgw_xml_location(xmlNodePtr node, char *buf, size_t len)
{
    xmlNodePtr chain[64];
    size_t depth = 0;
    xmlNodePtr n = node && node->type == XML_ATTRIBUTE_NODE ? node->parent : node;
    for (; n && n->type == XML_ELEMENT_NODE && depth < 64; n = n->parent) chain[depth++] = n;
    size_t used = 0;
    buf[0] = '\0';
    while (depth-- > 0 && used + 1 < len) {
        bool several;
        int idx = msgw_xml_sibling_position(chain[depth], &several);
        used += (size_t)snprintf(buf + used, len - used, several ? "/%s[%d]" : "/%s", (const char *)chain[depth]->name, idx);
    }
    if (used < len && node && node->type == XML_ATTRIBUTE_NODE)
        used += (size_t)snprintf(buf + used, len - used, "/@%s", (const char *)node->name);
    if (used < len) snprintf(buf + used, len - used, " (line %ld)", node ? xmlGetLineNo(node) : 0L);
    return buf;
}

typedef struct validate_state {
    msgw_errors *e;
    int (*record_of)(xmlNodePtr, void *);
    void *ud;
    bool failed;
} validate_state;

static const char *xsd_rule(int code)
{
    switch (code) {
    case XML_SCHEMAV_CVC_ENUMERATION_VALID: return "xsd.enumeration";
    case XML_SCHEMAV_CVC_PATTERN_VALID: return "xsd.pattern";
    case XML_SCHEMAV_CVC_MAXLENGTH_VALID:
    case XML_SCHEMAV_CVC_MINLENGTH_VALID:
    case XML_SCHEMAV_CVC_LENGTH_VALID: return "xsd.length";
    case XML_SCHEMAV_CVC_MININCLUSIVE_VALID:
    case XML_SCHEMAV_CVC_MAXINCLUSIVE_VALID:
    case XML_SCHEMAV_CVC_MINEXCLUSIVE_VALID:
    case XML_SCHEMAV_CVC_MAXEXCLUSIVE_VALID: return "xsd.range";
    case XML_SCHEMAV_CVC_COMPLEX_TYPE_2_4: return "xsd.content";
    case XML_SCHEMAV_CVC_COMPLEX_TYPE_4: return "xsd.required_attribute";
    case XML_SCHEMAV_CVC_DATATYPE_VALID_1_2_1: return "xsd.datatype";
    default: return "xsd.invalid";
    }
}

/*
 * A generated schema writes a long code list (the region table's thousands of codes) as one
 * pattern matching exactly its codes (tools/gen_schemas.py, XSD_ENUMERATION_MAX).  libxml2 quotes
 * the whole pattern in its message, which tells the sender nothing: say what it means instead.
 * Only those patterns are this long; a hand-written one (the ID number's) is far shorter.
 */
#define CODE_LIST_PATTERN_MIN 400

static const char *explain_long_pattern(const char *m, char *out, size_t outlen)
{
    static const char by[] = " is not accepted by the pattern '";
    const char *at = strstr(m, by);
    if (!at || strlen(at + sizeof by - 1) < CODE_LIST_PATTERN_MIN) return m;
    snprintf(out, outlen,
             "%.*s is not a code of this field's code list (the schema's pattern is generated from "
             "the list and matches exactly its codes; see docs/dictionary.md)",
             (int)(at - m), m);
    return out;
}

static void on_schema_error(void *ud, const xmlError *err)
{
    validate_state *st = ud;
    if (err->level < XML_ERR_ERROR) return;
    st->failed = true;
    xmlNodePtr node = err->node;
    if (st->e->n >= (st->e->limit ? st->e->limit : 1000)) {
        /* past the list's limit only the count and the record's failure matter: skip the
         * location, whose sibling walk would make a hostile document quadratic */
        msgw_error_add(st->e, node && st->record_of ? st->record_of(node, st->ud) : -1, NULL, NULL,
                       xsd_rule(err->code), "schema violation");
        return;
    }
    char loc[512] = "";
    int rec = -1;
    const char *field = NULL;
    if (node) {
        msgw_xml_location(node, loc, sizeof loc);
        field = (const char *)node->name;
        if (st->record_of) rec = st->record_of(node, st->ud);
    } else if (err->line) {
        snprintf(loc, sizeof loc, "line %d", err->line);
    }
    char msg[512], explained[512];
    const char *m = err->message ? err->message : "schema violation";
    /* The location and field already say which element: drop libxml2's "Element '{ns}X': " */
    if (strncmp(m, "Element '", 9) == 0 && strstr(m, "': ")) m = strstr(m, "': ") + 3;
    if (strncmp(m, "[facet '", 8) == 0 && strstr(m, "'] ")) m = strstr(m, "'] ") + 3;
    m = explain_long_pattern(m, explained, sizeof explained);
    snprintf(msg, sizeof msg, "%s", m);
    trim_message(msg);
    msgw_error_add(st->e, rec, loc[0] ? loc : NULL, field, xsd_rule(err->code), "%s", msg);
}

bool msgw_xml_validate(void *schema, xmlDocPtr doc, msgw_errors *e,
                       int (*record_of)(xmlNodePtr node, void *ud), void *ud)
{
    if (!schema) return true;
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt((xmlSchemaPtr)schema);
    if (!v) abort();
    validate_state st = {e, record_of, ud, false};
    xmlSchemaSetValidStructuredErrors(v, (xmlStructuredErrorFunc)on_schema_error, &st);
    int rc = xmlSchemaValidateDoc(v, doc);
    xmlSchemaFreeValidCtxt(v);
    if (rc != 0 && !st.failed) {
        msgw_error_add(e, -1, NULL, NULL, "xsd.invalid", "document does not match its schema");
        st.failed = true;
    }
    return !st.failed;
}

xmlNodePtr msgw_xml_child(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0) return c;
    return NULL;
}

const char *msgw_xml_text(xmlNodePtr node, size_t *len)
{
    if (!node) return NULL;
    const char *s = NULL;
    if (node->type == XML_ATTRIBUTE_NODE || node->type == XML_ELEMENT_NODE) {
        xmlNodePtr t = node->children;
        if (!t || t->type != XML_TEXT_NODE || !t->content) {
            *len = 0;
            return node->type == XML_ATTRIBUTE_NODE ? "" : NULL;
        }
        s = (const char *)t->content;
    } else if (node->content) {
        s = (const char *)node->content;
    }
    if (!s) return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    *len = n;
    return s;
}
