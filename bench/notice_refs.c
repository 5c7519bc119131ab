/*
 * Reading the notices' ids and causes out of list documents (bench/notice_refs.h).
 */
#include <iconv.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "notice_refs.h"

static void refs_add(notice_refs *r, const char *id, const char *cause)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 128;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        if (!r->v) abort();
    }
    r->v[r->n].id = id ? strdup(id) : NULL;
    r->v[r->n].cause = cause && *cause ? strdup(cause) : NULL;
    r->n++;
}

void notice_refs_clear(notice_refs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].id);
        free(r->v[i].cause);
    }
    r->n = 0;
}

void notice_refs_free(notice_refs *r)
{
    notice_refs_clear(r);
    free(r->v);
    r->v = NULL;
    r->cap = 0;
}

typedef enum list_format {
    LIST_UNKNOWN,
    LIST_MCA,       /* application/vnd.msgw.mca.notice+xml */
    LIST_CDPF,      /* application/vnd.msgw.cdpf.notice+xml */
    LIST_HRSS,      /* application/vnd.msgw.hrss.notice+json */
    LIST_CANONICAL, /* application/vnd.msgw.eligibility+json: [{"notice_id", "notice"}] */
    LIST_FHIR,      /* application/fhir+json */
} list_format;

/* The list form of a notice media type (compared without its parameters); *gb: charset=GB18030. */
static list_format list_format_of(const char *media_type, bool *gb)
{
    static const struct {
        const char *type;
        list_format f;
    } known[] = {{"application/vnd.msgw.mca.notice+xml", LIST_MCA},
                 {"application/vnd.msgw.cdpf.notice+xml", LIST_CDPF},
                 {"application/vnd.msgw.hrss.notice+json", LIST_HRSS},
                 {"application/vnd.msgw.eligibility+json", LIST_CANONICAL},
                 {"application/fhir+json", LIST_FHIR}};
    *gb = false;
    if (!media_type) return LIST_UNKNOWN;
    size_t len = strcspn(media_type, ";");
    while (len && (media_type[len - 1] == ' ' || media_type[len - 1] == '\t'))
        len--;
    for (const char *p = strchr(media_type, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1 + strspn(p + 1, " \t");
        if (strncasecmp(q, "charset=", 8) != 0) continue;
        q += 8;
        if (*q == '"') q++;
        /* GB18030, then the value's end (strchr finds the terminating NUL too) */
        *gb = strncasecmp(q, "GB18030", 7) == 0 && strchr("\"; \t", q[7]) != NULL;
    }
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strlen(known[i].type) == len && strncasecmp(media_type, known[i].type, len) == 0)
            return known[i].f;
    return LIST_UNKNOWN;
}

/* GB18030 to UTF-8 (jansson reads UTF-8 only); NULL when it does not convert. */
static char *gb18030_to_utf8(const char *in, size_t len, size_t *out_len)
{
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == (iconv_t)-1) return NULL;
    size_t cap = len * 2 + 16; /* 2 bytes of GB18030 are at most 3 of UTF-8, 4 at most 4 */
    char *out = malloc(cap), *ip = (char *)in, *op = out;
    size_t il = len, ol = cap;
    bool ok = out && iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 && il == 0;
    iconv_close(cd);
    if (!ok) {
        free(out);
        return NULL;
    }
    *out_len = cap - ol;
    return out;
}

/* Is n the element name in namespace ns (NULL: none)? */
static bool xml_is(const xmlNode *n, const char *name, const char *ns)
{
    if (!n || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0) return false;
    const char *href = n->ns ? (const char *)n->ns->href : NULL;
    return ns ? href && strcmp(href, ns) == 0 : !href;
}

/* The first child element of n named name (NULL n: none). */
static xmlNode *xml_child(const xmlNode *n, const char *name, const char *ns)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (xml_is(c, name, ns)) return c;
    return NULL;
}

/*
 * An XML list: <EligibilityNotices version=V> (in namespace ns, or none) holding only
 * <EligibilityNotice> elements; the id is [id_parent/]id_name, the cause Cause/cause_name (each
 * directly under its parent: a Fact's message id is not the cause's).
 */
static bool xml_list(const char *body, size_t len, const char *ns, const char *version,
                     const char *id_parent, const char *id_name, const char *cause_name,
                     notice_refs *out, char *why, size_t wl)
{
    if (len > INT_MAX) {
        snprintf(why, wl, "the list is too long for libxml2");
        return false;
    }
    /* the declaration names the encoding (GB18030 or UTF-8); nothing fetched, nothing printed */
    xmlDoc *doc = xmlReadMemory(body, (int)len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *err = xmlGetLastError();
        snprintf(why, wl, "not well-formed XML: %s", err && err->message ? err->message : "?");
        if (why[0] && why[strlen(why) - 1] == '\n') why[strlen(why) - 1] = '\0';
        return false;
    }
    bool ok = false;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlChar *v = root ? xmlGetProp(root, (const xmlChar *)"version") : NULL;
    if (!xml_is(root, "EligibilityNotices", ns)) {
        snprintf(why, wl, "the root element is %s, not EligibilityNotices%s%s",
                 root ? (const char *)root->name : "missing", ns ? " in " : "", ns ? ns : "");
        goto done;
    }
    if (!v || strcmp((const char *)v, version) != 0) {
        snprintf(why, wl, "EligibilityNotices version is %s, not %s",
                 v ? (const char *)v : "missing", version);
        goto done;
    }
    size_t i = 0;
    for (xmlNode *c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (!xml_is(c, "EligibilityNotice", ns)) {
            snprintf(why, wl, "EligibilityNotices holds a %s element", (const char *)c->name);
            goto done;
        }
        xmlNode *idn = xml_child(id_parent ? xml_child(c, id_parent, ns) : c, id_name, ns);
        xmlNode *cn = xml_child(xml_child(c, "Cause", ns), cause_name, ns);
        xmlChar *id = idn ? xmlNodeGetContent(idn) : NULL;
        xmlChar *cause = cn ? xmlNodeGetContent(cn) : NULL;
        if (id && *id) refs_add(out, (const char *)id, (const char *)cause);
        xmlFree(id);
        xmlFree(cause);
        if (out->n != ++i) {
            snprintf(why, wl, "notice %zu has no %s%s%s", i, id_parent ? id_parent : "",
                     id_parent ? "/" : "", id_name);
            goto done;
        }
    }
    ok = true;
done:
    xmlFree(v);
    xmlFreeDoc(doc);
    return ok;
}

static const char *json_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* The extension of list (a FHIR extension array) whose url is url. */
static json_t *fhir_ext(const json_t *list, const char *url)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        const char *u = json_str(x, "url");
        if (u && strcmp(u, url) == 0) return x;
    }
    return NULL;
}

/* A JSON list: an array of notices, or a FHIR Bundle of Flags. */
static bool json_list(list_format f, const char *body, size_t len, notice_refs *out, char *why,
                      size_t wl)
{
    json_error_t err;
    json_t *doc = json_loadb(body, len, 0, &err);
    if (!doc) {
        snprintf(why, wl, "not JSON: %s (line %d)", err.text, err.line);
        return false;
    }
    bool ok = false;
    json_t *items = doc;
    if (f == LIST_FHIR) {
        const char *rt = json_str(doc, "resourceType"), *type = json_str(doc, "type");
        if (!rt || strcmp(rt, "Bundle") != 0 || !type || strcmp(type, "collection") != 0) {
            snprintf(why, wl, "not a FHIR Bundle of type collection");
            goto done;
        }
        items = json_object_get(doc, "entry");
    }
    if (!json_is_array(items)) {
        snprintf(why, wl, "%s is not an array", f == LIST_FHIR ? "Bundle.entry" : "the list");
        goto done;
    }
    size_t i;
    json_t *x;
    json_array_foreach(items, i, x)
    {
        const char *id = NULL, *cause = NULL;
        if (f == LIST_HRSS) { /* noticeId; cause.sourceMsgId */
            id = json_str(x, "noticeId");
            cause = json_str(json_object_get(x, "cause"), "sourceMsgId");
            if (!id) {
                snprintf(why, wl, "notice %zu has no noticeId", i + 1);
                goto done;
            }
        } else if (f == LIST_CANONICAL) { /* {"notice_id", "notice": explanation}: the explanation
                                             names no id; notice.cause.message_id (record causes) */
            json_t *notice = json_object_get(x, "notice");
            id = json_str(x, "notice_id");
            if (!id || !json_str(notice, "service")) {
                snprintf(why, wl, "item %zu is not {\"notice_id\", \"notice\": explanation}",
                         i + 1);
                goto done;
            }
            cause = json_str(json_object_get(notice, "cause"), "message_id");
        } else { /* entry.resource: a Flag; identifier[system=urn:msgw:eligibility-notice].value */
            json_t *flag = json_object_get(x, "resource");
            const char *rt = json_str(flag, "resourceType");
            if (!rt || strcmp(rt, "Flag") != 0) {
                snprintf(why, wl, "entry %zu is not a Flag", i + 1);
                goto done;
            }
            size_t k;
            json_t *ident;
            json_array_foreach(json_object_get(flag, "identifier"), k, ident)
            {
                const char *sys = json_str(ident, "system");
                if (sys && strcmp(sys, "urn:msgw:eligibility-notice") == 0) {
                    id = json_str(ident, "value");
                    break;
                }
            }
            if (!id) {
                snprintf(why, wl, "Flag %zu has no urn:msgw:eligibility-notice identifier", i + 1);
                goto done;
            }
            /* extension[urn:msgw:fhir:eligibility-notice].extension[cause].extension[messageId] */
            json_t *notice =
                fhir_ext(json_object_get(flag, "extension"), "urn:msgw:fhir:eligibility-notice");
            json_t *c = fhir_ext(json_object_get(notice, "extension"), "cause");
            cause = json_str(fhir_ext(json_object_get(c, "extension"), "messageId"), "valueString");
        }
        refs_add(out, id, cause);
    }
    ok = true;
done:
    json_decref(doc);
    return ok;
}

bool notice_refs_parse(const char *media_type, const char *body, size_t len, notice_refs *out,
                       char *why, size_t wl)
{
    bool gb;
    list_format f = list_format_of(media_type, &gb);
    notice_refs_clear(out);
    why[0] = '\0';
    switch (f) {
    case LIST_MCA:
        return xml_list(body, len, NULL, "1.0", "Header", "TZBH", "XXBH", out, why, wl);
    case LIST_CDPF:
        return xml_list(body, len, "urn:msgw:cdpf:notice:1", "1", NULL, "NoticeId", "MessageId",
                        out, why, wl);
    case LIST_HRSS:
    case LIST_CANONICAL:
    case LIST_FHIR:
        if (gb) {
            size_t ulen;
            char *utf8 = gb18030_to_utf8(body, len, &ulen);
            if (!utf8) {
                snprintf(why, wl, "not GB18030");
                return false;
            }
            bool ok = json_list(f, utf8, ulen, out, why, wl);
            free(utf8);
            return ok;
        }
        return json_list(f, body, len, out, why, wl);
    case LIST_UNKNOWN:
        break;
    }
    snprintf(why, wl, "%s is not a notice media type", media_type ? media_type : "(none)");
    return false;
}
