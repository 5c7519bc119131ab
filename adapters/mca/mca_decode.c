/*
 * Decoding civil affairs rosters.  The road a document takes, in order:
 * size limit, text encoding (UTF-8 checked strictly, GB18030 converted here so
 * a bad byte is reported with its offset instead of libxml2's vague
 * "premature end of data"), the safe XML parser, the generated XSD, then one
 * canonical household_assistance_roster record per <Household>, every leaf
 * value parsed by the dictionary.  A bad household is rejected on its own;
 * the others of the batch still decode.
 */
#include <libxml/tree.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mca_internal.h"
#include "msgw/base/text.h"
#include "msgw/base/xml.h"

#define LOC_MAX 512

/* Dictionary elements, looked up once per decode call. */
typedef struct mca_elements {
    const msgw_element *household_id, *hukou_region, *hukou_type, *assistance_category,
        *start_date, *end_date, *benefit, *id_number, *name, *sex, *birth_date, *ethnic, *marital,
        *relationship, *income, *income_source, *employment, *care_level, *ability_level,
        *assessment_date, *orphan_status, *care_placement;
} mca_elements;

/* One <Member>'s values; kind MSGW_V_NONE marks an absent optional leaf. */
typedef struct member_vals {
    xmlNodePtr node;
    msgw_value id, name, sex, birth, ethnic, marital, relationship, income, income_source,
        employment, care_level, ability_level, assessed, orphan, placement;
} member_vals;

/* One <Household>'s own values. */
typedef struct household_vals {
    const char *record_id;
    msgw_value household_id, region, hukou_type, category, start, end, benefit;
} household_vals;

typedef struct decoder {
    const msgw_adapter_ctx *ctx;
    msgw_batch *out;
    mca_elements els;
    msgw_errors scratch;  /* one leaf's findings, before its location is computed */
    msgw_arena *scratch_arena; /* converted text; freed when decode returns */
    member_vals *members; /* reused across households */
    size_t members_cap;
    size_t nhouseholds;
} decoder;

/* ---- dictionary -------------------------------------------------------- */

static bool lookup_elements(const msgw_dict *dict, mca_elements *els, msgw_errors *e)
{
    const struct {
        const char *id;
        const msgw_element **slot;
    } want[] = {
        {"household_id", &els->household_id},
        {"hukou_region", &els->hukou_region},
        {"hukou_type", &els->hukou_type},
        {"assistance_category", &els->assistance_category},
        {"start_date", &els->start_date},
        {"end_date", &els->end_date},
        {"benefit_monthly_fen", &els->benefit},
        {"id_number", &els->id_number},
        {"name", &els->name},
        {"sex", &els->sex},
        {"birth_date", &els->birth_date},
        {"ethnic_group", &els->ethnic},
        {"marital_status", &els->marital},
        {"family_relationship", &els->relationship},
        {"income_monthly_fen", &els->income},
        {"income_source", &els->income_source},
        {"employment_status", &els->employment},
        {"care_level", &els->care_level},
        {"ability_level", &els->ability_level},
        {"assessment_date", &els->assessment_date},
        {"orphan_status", &els->orphan_status},
        {"care_placement", &els->care_placement},
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        *want[i].slot = msgw_dict_element(dict, want[i].id);
        if (!*want[i].slot) {
            msgw_error_add(e, -1, NULL, want[i].id, "mca.dictionary",
                           "the data dictionary has no element %s", want[i].id);
            ok = false;
        }
    }
    return ok;
}

/* ---- text encoding ----------------------------------------------------- */

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Finds the value of encoding="..." in the XML declaration at the start of
 * buf (after an optional UTF-8 byte order mark).  Only the declaration is
 * looked at, as the XML spec's encoding detection does; libxml2 parses the
 * rest.
 */
static bool find_declared_encoding(const char *buf, size_t len, size_t *vstart, size_t *vlen)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) i = 3;
    if (len - i < 6 || memcmp(buf + i, "<?xml", 5) != 0 || !is_xml_space(buf[i + 5]))
        return false;
    size_t limit = len < i + 1024 ? len : i + 1024;
    const char *end = memmem(buf + i, limit - i, "?>", 2);
    if (!end) return false;
    size_t stop = (size_t)(end - buf);
    const char *enc = memmem(buf + i, stop - i, "encoding", 8);
    if (!enc) return false;
    size_t p = (size_t)(enc - buf) + 8;
    while (p < stop && is_xml_space(buf[p])) p++;
    if (p >= stop || buf[p] != '=') return false;
    p++;
    while (p < stop && is_xml_space(buf[p])) p++;
    if (p >= stop || (buf[p] != '"' && buf[p] != '\'')) return false;
    char quote = buf[p++];
    size_t q = p;
    while (q < stop && buf[q] != quote) q++;
    if (q >= stop) return false;
    *vstart = p;
    *vlen = q - p;
    return true;
}

/* "byte N (line L, column C)" for an offset into the raw document. */
static void offset_location(const char *buf, size_t off, char *loc, size_t len)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    snprintf(loc, len, "byte %zu (line %zu, column %zu)", off, line, col);
}

static void report_bad_bytes(decoder *d, const char *charset, const char *buf, size_t len,
                             size_t off)
{
    char loc[96], bytes[32] = "";
    offset_location(buf, off, loc, sizeof loc);
    size_t shown = 0;
    for (size_t i = off; i < len && shown < 4; i++, shown++)
        snprintf(bytes + strlen(bytes), sizeof bytes - strlen(bytes), "%s0x%02X",
                 shown ? " " : "", (unsigned char)buf[i]);
    msgw_error_add(&d->out->errors, -1, loc, NULL, "mca.encoding.invalid",
                   "invalid %s byte sequence at byte offset %zu%s%s", charset, off,
                   shown ? ": " : " (document ends inside a character)", bytes);
}

/*
 * Converted GB18030 text still declares encoding="GB18030"; libxml2 would
 * convert it a second time, so the declaration is rewritten to UTF-8.  Line
 * numbers do not move (no newline is added or removed).
 */
static const char *declare_utf8(decoder *d, const char *text, size_t len, size_t *out_len)
{
    size_t vstart, vlen;
    if (!find_declared_encoding(text, len, &vstart, &vlen)) {
        *out_len = len;
        return text;
    }
    size_t n = len - vlen + 5;
    char *u = msgw_arena_alloc(d->scratch_arena, n + 1);
    memcpy(u, text, vstart);
    memcpy(u + vstart, "UTF-8", 5);
    memcpy(u + vstart + 5, text + vstart + vlen, len - vstart - vlen);
    *out_len = n;
    return u;
}

static bool gb18030_bom(const char *buf, size_t len)
{
    return len >= 4 && memcmp(buf, "\x84\x31\x95\x33", 4) == 0;
}

/*
 * Decides the document's charset from its XML declaration and the media
 * type's charset parameter, checks every byte, and returns UTF-8 text for the
 * parser (buf itself when it already is).  NULL after a document-level error.
 */
static const char *utf8_text(decoder *d, const char *media_type, const char *buf, size_t len,
                             size_t *tlen)
{
    msgw_errors *e = &d->out->errors;
    mca_charset media = mca_media_charset(media_type);
    size_t vstart = 0, vlen = 0;
    bool has_decl = find_declared_encoding(buf, len, &vstart, &vlen);
    mca_charset declared = has_decl ? mca_classify_charset(buf + vstart, vlen) : MCA_CS_NONE;
    if (!has_decl && gb18030_bom(buf, len)) declared = MCA_CS_GB;
    if (declared == MCA_CS_OTHER) {
        msgw_error_add(e, -1, "line 1", "encoding", "mca.encoding.unsupported",
                       "declared encoding \"%.*s\" is not accepted; send UTF-8 or GB18030",
                       (int)(vlen > 40 ? 40 : vlen), buf + vstart);
        return NULL;
    }
    if (media == MCA_CS_OTHER) {
        msgw_error_add(e, -1, NULL, "charset", "mca.encoding.unsupported",
                       "media type %s names a charset other than UTF-8 or GB18030", media_type);
        return NULL;
    }
    if (declared != MCA_CS_NONE && media != MCA_CS_NONE && declared != media) {
        msgw_error_add(e, -1, "line 1", "encoding", "mca.encoding.conflict",
                       "the XML declaration says %.*s but the media type %s says otherwise",
                       (int)(vlen > 40 ? 40 : vlen), buf + vstart, media_type);
        return NULL;
    }
    mca_charset cs = declared != MCA_CS_NONE ? declared : media != MCA_CS_NONE ? media : MCA_CS_UTF8;
    if (cs == MCA_CS_UTF8) {
        size_t ok = msgw_utf8_valid_prefix(buf, len);
        if (ok < len) {
            report_bad_bytes(d, "UTF-8", buf, len, ok);
            return NULL;
        }
        *tlen = len;
        return buf;
    }
    size_t bad = 0, ulen = 0;
    char *u = msgw_gb18030_to_utf8(buf, len, d->scratch_arena, &ulen, &bad);
    if (!u) {
        report_bad_bytes(d, "GB18030", buf, len, bad);
        return NULL;
    }
    return declare_utf8(d, u, ulen, tlen);
}

/* ---- locations and leaves ---------------------------------------------- */

/* A node's household: the Household ancestor's position among the roster's households. */
static int household_of(xmlNodePtr node, void *ud)
{
    (void)ud;
    for (; node; node = node->parent)
        if (node->type == XML_ELEMENT_NODE && node->parent && node->parent->parent &&
            node->parent->parent->type == XML_DOCUMENT_NODE &&
            strcmp((const char *)node->name, MCA_HOUSEHOLD) == 0) {
            bool several;
            return msgw_xml_sibling_position(node, &several) - 1;
        }
    return -1;
}

/*
 * Locations of households and members, spelt as msgw_xml_location spells
 * them ("[n]" only when there are several).  Built from the indexes the
 * decoder already knows: xmlGetNodePath counts siblings, which over a roster
 * of many households is quadratic.
 */
static const char *household_loc(decoder *d, xmlNodePtr h, int rec)
{
    char idx[24] = "";
    if (d->nhouseholds > 1) snprintf(idx, sizeof idx, "[%d]", rec + 1);
    return msgw_arena_printf(d->out->arena, "/" MCA_ROOT "/" MCA_HOUSEHOLD "%s (line %ld)", idx,
                             xmlGetLineNo(h));
}

static const char *member_loc(decoder *d, xmlNodePtr m, int rec, size_t i, size_t n)
{
    char hidx[24] = "", midx[24] = "";
    if (d->nhouseholds > 1) snprintf(hidx, sizeof hidx, "[%d]", rec + 1);
    if (n > 1) snprintf(midx, sizeof midx, "[%zu]", i + 1);
    return msgw_arena_printf(d->out->arena,
                             "/" MCA_ROOT "/" MCA_HOUSEHOLD "%s/" MCA_MEMBER "%s (line %ld)", hidx,
                             midx, xmlGetLineNo(m));
}

/* "[n]" when c has same-named siblings, as XPath needs it; "" otherwise. */
static void sibling_index(const decoder *d, xmlNodePtr c, char *idx, size_t len)
{
    (void)d;
    idx[0] = '\0';
    bool several;
    int pos = msgw_xml_sibling_position(c, &several);
    if (several) snprintf(idx, len, "[%d]", pos);
}

/*
 * "XPATH (line N)" for an error, spelt like msgw_xml_location but costing
 * the size of the household, not of the roster (positions come from the
 * sibling index msgw_xml_parse builds).  Once the error list is full, errors are only counted, so no
 * location is computed at all: a hostile roster of bad values stays linear.
 */
static const char *where(const decoder *d, xmlNodePtr n, char *buf, size_t len)
{
    if (d->out->errors.dropped) return NULL;
    xmlNodePtr chain[16];
    size_t k = 0;
    for (xmlNodePtr p = n; p && p->type == XML_ELEMENT_NODE; p = p->parent) {
        if (k == sizeof chain / sizeof chain[0]) return msgw_xml_location(n, buf, len);
        chain[k++] = p;
    }
    size_t off = 0;
    for (size_t i = k; i-- > 0 && off < len;) {
        char idx[24];
        sibling_index(d, chain[i], idx, sizeof idx);
        int w = snprintf(buf + off, len - off, "/%s%s", (const char *)chain[i]->name, idx);
        off += w > 0 ? (size_t)w : 0;
    }
    if (off < len) snprintf(buf + off, len - off, " (line %ld)", xmlGetLineNo(n));
    return buf;
}

/* Moves the scratch findings of one leaf into the batch, now located at n. */
static void flush_scratch(decoder *d, xmlNodePtr n, int rec)
{
    char buf[LOC_MAX];
    const char *loc = where(d, n, buf, sizeof buf);
    for (size_t i = 0; i < d->scratch.n; i++) {
        const msgw_error *s = &d->scratch.v[i];
        msgw_errors_add(&d->out->errors, s->severity, rec, loc, s->field, s->rule, "%s",
                        s->message);
    }
    msgw_errors_clear(&d->scratch);
}

static void report_missing(decoder *d, xmlNodePtr parent, const char *tag, int rec)
{
    char loc[LOC_MAX];
    msgw_error_add(&d->out->errors, rec, where(d, parent, loc, sizeof loc), tag,
                   "mca.required", "%s has no %s; it is required", (const char *)parent->name,
                   tag);
}

/* Text of a child element ("" for an empty one), NULL when the child is absent. */
static const char *child_text(xmlNodePtr parent, const char *tag, xmlNodePtr *node, size_t *len)
{
    *node = msgw_xml_child(parent, tag);
    if (!*node) return NULL;
    const char *t = msgw_xml_text(*node, len);
    if (!t) {
        *len = 0;
        t = "";
    }
    return t;
}

/*
 * Parses child tag of parent as dictionary element el into *v.  An absent
 * optional leaf leaves v at MSGW_V_NONE and counts as success.
 */
static bool parse_leaf(decoder *d, xmlNodePtr parent, const char *tag, const msgw_element *el,
                       bool required, int rec, msgw_value *v)
{
    xmlNodePtr n;
    size_t len;
    const char *text = child_text(parent, tag, &n, &len);
    v->kind = MSGW_V_NONE;
    if (!text) {
        if (required) report_missing(d, parent, tag, rec);
        return !required;
    }
    bool ok = msgw_dict_parse(d->ctx->dict, el, text, len, v, d->out->arena, &d->scratch, rec,
                              NULL, tag);
    if (d->scratch.n) flush_scratch(d, n, rec);
    if (!ok) v->kind = MSGW_V_NONE;
    return ok;
}

/* ---- header ------------------------------------------------------------ */

static bool header_text(decoder *d, xmlNodePtr h, const char *tag, const char **text,
                        size_t *len, xmlNodePtr *node)
{
    *text = child_text(h, tag, node, len);
    if (*text && *len) return true;
    if (!*text) {
        report_missing(d, h, tag, -1);
    } else {
        char loc[LOC_MAX];
        msgw_error_add(&d->out->errors, -1, msgw_xml_location(*node, loc, sizeof loc), tag,
                       "mca.header.empty", "%s is empty", tag);
    }
    return false;
}

/*
 * The header is not mapped (records carry their own regions) but a roster
 * whose sender cannot be told is refused as a whole: nobody could answer it.
 */
static bool check_header(decoder *d, xmlNodePtr root)
{
    xmlNodePtr h = msgw_xml_child(root, MCA_HEADER);
    if (!h) {
        report_missing(d, root, MCA_HEADER, -1);
        return false;
    }
    const char *t;
    size_t len;
    xmlNodePtr n;
    char loc[LOC_MAX];
    bool ok = true;
    if (header_text(d, h, MCA_FSDWQH, &t, &len, &n)) {
        const msgw_codelist *regions = msgw_dict_codelist(d->ctx->dict, "region");
        if (regions && !msgw_codelist_find(regions, t, len)) {
            msgw_error_add(&d->out->errors, -1, msgw_xml_location(n, loc, sizeof loc),
                           MCA_FSDWQH, "mca.header.region",
                           "\"%.*s\" is not a GB/T 2260 administrative division code",
                           (int)(len > 40 ? 40 : len), t);
            ok = false;
        }
    } else {
        ok = false;
    }
    ok = header_text(d, h, MCA_FSXT, &t, &len, &n) && ok;
    ok = header_text(d, h, MCA_PCH, &t, &len, &n) && ok;
    if (header_text(d, h, MCA_SCSJ, &t, &len, &n)) {
        char *s = msgw_arena_strndup(d->scratch_arena, t, len);
        msgw_time when;
        if (!msgw_time_parse(s, &when)) {
            msgw_error_add(&d->out->errors, -1, msgw_xml_location(n, loc, sizeof loc), MCA_SCSJ,
                           "mca.header.time",
                           "\"%.*s\" is not an RFC 3339 time such as 2026-11-01T08:30:00+08:00",
                           (int)(len > 40 ? 40 : len), t);
            ok = false;
        }
    } else {
        ok = false;
    }
    return ok;
}

static bool check_root(decoder *d, xmlNodePtr root)
{
    char loc[LOC_MAX];
    if (!root || strcmp((const char *)root->name, MCA_ROOT) != 0 || root->ns) {
        msgw_error_add(&d->out->errors, -1, root ? msgw_xml_location(root, loc, sizeof loc) : NULL,
                       root ? (const char *)root->name : NULL, "mca.root",
                       "the document element must be <%s> (no namespace)", MCA_ROOT);
        return false;
    }
    xmlChar *v = xmlGetProp(root, (const xmlChar *)"version");
    bool ok = v && strcmp((const char *)v, MCA_VERSION) == 0;
    if (!ok)
        msgw_error_add(&d->out->errors, -1, msgw_xml_location(root, loc, sizeof loc), "version",
                       "mca.version", "roster version \"%.20s\" is not supported; send version=\"%s\"",
                       v ? (const char *)v : "(none)", MCA_VERSION);
    xmlFree(v);
    return ok;
}

/* ---- households -------------------------------------------------------- */

static bool parse_member(decoder *d, xmlNodePtr m, int rec, member_vals *mv)
{
    const mca_elements *E = &d->els;
    memset(mv, 0, sizeof *mv);
    mv->node = m;
    bool ok = parse_leaf(d, m, MCA_SFZH, E->id_number, true, rec, &mv->id);
    ok = parse_leaf(d, m, MCA_XM, E->name, true, rec, &mv->name) && ok;
    ok = parse_leaf(d, m, MCA_XB, E->sex, true, rec, &mv->sex) && ok;
    ok = parse_leaf(d, m, MCA_CSRQ, E->birth_date, true, rec, &mv->birth) && ok;
    ok = parse_leaf(d, m, MCA_MZ, E->ethnic, true, rec, &mv->ethnic) && ok;
    ok = parse_leaf(d, m, MCA_HYZK, E->marital, true, rec, &mv->marital) && ok;
    ok = parse_leaf(d, m, MCA_YHZGX, E->relationship, true, rec, &mv->relationship) && ok;
    ok = parse_leaf(d, m, MCA_YSR, E->income, true, rec, &mv->income) && ok;
    ok = parse_leaf(d, m, MCA_SRLY, E->income_source, false, rec, &mv->income_source) && ok;
    ok = parse_leaf(d, m, MCA_JYZK, E->employment, false, rec, &mv->employment) && ok;
    xmlNodePtr care = msgw_xml_child(m, MCA_CARE);
    if (care) {
        ok = parse_leaf(d, care, MCA_ZHDJ, E->care_level, true, rec, &mv->care_level) && ok;
        ok = parse_leaf(d, care, MCA_NLDJ, E->ability_level, false, rec, &mv->ability_level) && ok;
        ok = parse_leaf(d, care, MCA_PGRQ, E->assessment_date, true, rec, &mv->assessed) && ok;
    }
    xmlNodePtr orphan = msgw_xml_child(m, MCA_ORPHAN);
    if (orphan) {
        ok = parse_leaf(d, orphan, MCA_GELB, E->orphan_status, true, rec, &mv->orphan) && ok;
        ok = parse_leaf(d, orphan, MCA_GYFS, E->care_placement, false, rec, &mv->placement) && ok;
    }
    return ok;
}

static bool parse_record_id(decoder *d, xmlNodePtr h, int rec, household_vals *hv)
{
    xmlNodePtr n;
    size_t len;
    const char *t = child_text(h, MCA_JLBH, &n, &len);
    if (!t) {
        report_missing(d, h, MCA_JLBH, rec);
        return false;
    }
    size_t chars = msgw_utf8_strlen(t, len);
    if (chars == 0 || chars > MCA_RECORD_ID_MAX) {
        char loc[LOC_MAX];
        msgw_error_add(&d->out->errors, rec, where(d, n, loc, sizeof loc), MCA_JLBH,
                       "mca.record_id", "the record id must be 1 to %d characters, found %zu",
                       MCA_RECORD_ID_MAX, chars);
        return false;
    }
    hv->record_id = msgw_arena_strndup(d->out->arena, t, len);
    return true;
}

static bool parse_household_leaves(decoder *d, xmlNodePtr h, int rec, household_vals *hv)
{
    const mca_elements *E = &d->els;
    memset(hv, 0, sizeof *hv);
    bool ok = parse_record_id(d, h, rec, hv);
    ok = parse_leaf(d, h, MCA_HBH, E->household_id, true, rec, &hv->household_id) && ok;
    ok = parse_leaf(d, h, MCA_HJQH, E->hukou_region, true, rec, &hv->region) && ok;
    ok = parse_leaf(d, h, MCA_HKXZ, E->hukou_type, true, rec, &hv->hukou_type) && ok;
    ok = parse_leaf(d, h, MCA_JZLB, E->assistance_category, true, rec, &hv->category) && ok;
    ok = parse_leaf(d, h, MCA_KSRQ, E->start_date, true, rec, &hv->start) && ok;
    ok = parse_leaf(d, h, MCA_JSRQ, E->end_date, false, rec, &hv->end) && ok;
    ok = parse_leaf(d, h, MCA_YJZJE, E->benefit, false, rec, &hv->benefit) && ok;
    return ok;
}

static size_t count_children(xmlNodePtr parent, const char *name)
{
    size_t n = 0;
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0) n++;
    return n;
}

static void reserve_members(decoder *d, size_t n)
{
    if (n <= d->members_cap) return;
    member_vals *m = realloc(d->members, n * sizeof *m);
    if (!m) abort();
    d->members = m;
    d->members_cap = n;
}

/* Index of the one head of household, or -1 after reporting none or several. */
static int find_head(decoder *d, xmlNodePtr h, const member_vals *mv, size_t n, int rec)
{
    int head = -1;
    size_t heads = 0;
    for (size_t i = 0; i < n; i++)
        if (mca_is_head(mv[i].relationship.u.s)) {
            if (head < 0) head = (int)i;
            heads++;
        }
    if (heads == 1) return head;
    char loc[LOC_MAX];
    msgw_error_add(&d->out->errors, rec, where(d, h, loc, sizeof loc), MCA_YHZGX,
                   "mca.household.head",
                   "a household has exactly one head (YHZGX 02 户主 or 01 本人), found %zu", heads);
    return -1;
}

static void set_period(msgw_fact *f, const household_vals *hv)
{
    f->valid_from = hv->start.u.d;
    f->valid_to = hv->end.kind == MSGW_V_DATE ? hv->end.u.d : MSGW_DATE_NONE;
}

static void add_attr_if(msgw_fact *f, msgw_arena *a, const char *name, msgw_value v)
{
    if (v.kind != MSGW_V_NONE) msgw_fact_add_attr(f, a, name, v);
}

/*
 * One member's facts, in a fixed order (assistance, income, employment,
 * care assessment, orphan) so that encode -> decode gives equal records.
 * The household's monthly benefit is paid to the head: only the head's
 * assistance fact carries it, so sums over persons stay right.
 */
static void add_member_facts(decoder *d, msgw_record *r, size_t *cap, const household_vals *hv,
                             const member_vals *mv, bool is_head, const char *loc)
{
    msgw_arena *a = d->out->arena;
    const char *id = mv->id.u.s;
    msgw_fact *f = msgw_record_add_fact(r, a, cap, "assistance", id);
    set_period(f, hv);
    f->loc = loc;
    msgw_fact_add_attr(f, a, "assistance_category", hv->category);
    if (is_head) add_attr_if(f, a, "benefit_monthly_fen", hv->benefit);

    f = msgw_record_add_fact(r, a, cap, "income", id);
    set_period(f, hv);
    f->loc = loc;
    msgw_fact_add_attr(f, a, "income_monthly_fen", mv->income);
    add_attr_if(f, a, "income_source", mv->income_source);

    if (mv->employment.kind != MSGW_V_NONE) {
        f = msgw_record_add_fact(r, a, cap, "employment", id);
        set_period(f, hv);
        f->loc = loc;
        msgw_fact_add_attr(f, a, "employment_status", mv->employment);
    }
    if (mv->care_level.kind != MSGW_V_NONE) {
        f = msgw_record_add_fact(r, a, cap, "care_assessment", id);
        f->valid_from = mv->assessed.u.d;
        f->loc = loc;
        msgw_fact_add_attr(f, a, "care_level", mv->care_level);
        add_attr_if(f, a, "ability_level", mv->ability_level);
        msgw_fact_add_attr(f, a, "assessment_date", mv->assessed);
    }
    if (mv->orphan.kind != MSGW_V_NONE) {
        f = msgw_record_add_fact(r, a, cap, "orphan", id);
        f->loc = loc;
        msgw_fact_add_attr(f, a, "orphan_status", mv->orphan);
        add_attr_if(f, a, "care_placement", mv->placement);
    }
}

static void fill_person(msgw_person *p, const household_vals *hv, const member_vals *mv,
                        const char *loc)
{
    snprintf(p->id_number, sizeof p->id_number, "%s", mv->id.u.s);
    p->name = mv->name.u.s;
    p->sex = mv->sex.u.s;
    p->birth_date = mv->birth.u.d;
    p->ethnic = mv->ethnic.u.s;
    p->marital = mv->marital.u.s;
    p->hukou_region = hv->region.u.s;
    p->hukou_type = hv->hukou_type.u.s;
    p->loc = loc;
}

static msgw_record *build_record(decoder *d, xmlNodePtr h, int rec, const household_vals *hv,
                                 const member_vals *mv, size_t n, size_t head)
{
    msgw_arena *a = d->out->arena;
    msgw_record *r = msgw_arena_alloc(a, sizeof *r);
    r->kind = MCA_KIND;
    r->source_department = "mca";
    r->source_message_id = hv->record_id;
    r->loc = household_loc(d, h, rec);
    msgw_household *hh = msgw_arena_alloc(a, sizeof *hh);
    hh->id = hv->household_id.u.s;
    hh->region = hv->region.u.s;
    hh->hukou_type = hv->hukou_type.u.s;
    hh->members = msgw_arena_alloc(a, n * sizeof *hh->members);
    hh->nmembers = n;
    hh->loc = r->loc;
    r->household = hh;
    size_t pcap = 0, fcap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *loc = member_loc(d, mv[i].node, rec, i, n);
        fill_person(msgw_record_add_person(r, a, &pcap), hv, &mv[i], loc);
        snprintf(hh->members[i].id_number, sizeof hh->members[i].id_number, "%s", mv[i].id.u.s);
        hh->members[i].relationship = mv[i].relationship.u.s;
        add_member_facts(d, r, &fcap, hv, &mv[i], i == head, loc);
    }
    return r;
}

/*
 * One error at JSRQ, where the sender can fix it, instead of the record
 * rule's one per fact (every member's facts share the household's period).
 */
static bool check_period(decoder *d, xmlNodePtr h, int rec, const household_vals *hv)
{
    if (hv->start.kind != MSGW_V_DATE || hv->end.kind != MSGW_V_DATE ||
        hv->end.u.d >= hv->start.u.d)
        return true;
    char loc[LOC_MAX], from[11], to[11];
    msgw_error_add(&d->out->errors, rec,
                   where(d, msgw_xml_child(h, MCA_JSRQ), loc, sizeof loc), MCA_JSRQ,
                   "period.order", "assistance ends %s before it starts %s",
                   msgw_date_format(hv->end.u.d, to), msgw_date_format(hv->start.u.d, from));
    return false;
}

/* Maps one <Household>; NULL (with errors for rec) when anything in it is wrong. */
static msgw_record *decode_household(decoder *d, xmlNodePtr h, int rec)
{
    household_vals hv;
    bool ok = parse_household_leaves(d, h, rec, &hv);
    ok = check_period(d, h, rec, &hv) && ok;
    size_t n = count_children(h, MCA_MEMBER);
    if (n == 0) {
        report_missing(d, h, MCA_MEMBER, rec);
        return NULL;
    }
    reserve_members(d, n);
    size_t i = 0;
    for (xmlNodePtr c = h->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, MCA_MEMBER) == 0)
            ok = parse_member(d, c, rec, &d->members[i++]) && ok;
    if (!ok) return NULL;
    int head = find_head(d, h, d->members, n, rec);
    if (head < 0) return NULL;
    return build_record(d, h, rec, &hv, d->members, n, (size_t)head);
}

/* ---- the document ------------------------------------------------------ */

static size_t number_households(xmlNodePtr root)
{
    size_t n = 0;
    for (xmlNodePtr c = root->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, MCA_HOUSEHOLD) == 0)
            n++; /* their positions are in msgw_xml's sibling index */
    return n;
}

/*
 * Schema errors outside any household (header, root) refuse the whole
 * document; then even the households' errors are reported as the
 * document's, since no item will exist for them.
 */
static bool validate(decoder *d, xmlDocPtr doc)
{
    void *xsd = d->ctx->schemas ? msgw_schemas_xsd(d->ctx->schemas, MCA_SCHEMA) : NULL;
    if (!xsd) return true;
    msgw_errors found;
    msgw_errors_init(&found);
    msgw_xml_validate(xsd, doc, &found, household_of, NULL);
    bool doc_ok = !msgw_errors_record_failed(&found, -1);
    if (!doc_ok)
        for (size_t i = 0; i < found.n; i++) found.v[i].record = -1;
    /* a move keeps the failed marks of errors dropped past the list's limit */
    msgw_errors_move(&d->out->errors, &found, -1);
    return doc_ok;
}

typedef struct id_slot {
    const char *id;
    int index;
} id_slot;

static int compare_slots(const void *pa, const void *pb)
{
    const id_slot *a = pa, *b = pb;
    int c = strcmp(a->id, b->id);
    return c ? c : (a->index > b->index) - (a->index < b->index);
}

/*
 * The record id becomes the message id, so a second household with the same
 * id would silently replace the first downstream: the later one is rejected.
 */
static void reject_duplicate_ids(decoder *d)
{
    msgw_batch *b = d->out;
    id_slot *slots = malloc((b->nitems ? b->nitems : 1) * sizeof *slots);
    if (!slots) abort();
    size_t n = 0;
    for (size_t i = 0; i < b->nitems; i++)
        if (b->items[i].record) slots[n++] = (id_slot){b->items[i].record->source_message_id, (int)i};
    qsort(slots, n, sizeof *slots, compare_slots);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(slots[i].id, slots[i - 1].id) != 0) continue;
        size_t first = i - 1;
        while (first > 0 && strcmp(slots[first - 1].id, slots[i].id) == 0) first--;
        msgw_item *it = &b->items[slots[i].index];
        msgw_error_add(&b->errors, slots[i].index, it->loc, MCA_JLBH, "mca.record_id.duplicate",
                       "record id %s is already used by household %d of this roster",
                       slots[i].id, slots[first].index + 1);
        it->record = NULL;
    }
    free(slots);
}

static void decode_households(decoder *d, xmlNodePtr root)
{
    int rec = 0;
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, MCA_HOUSEHOLD) != 0)
            continue;
        msgw_record *r = NULL;
        if (!msgw_errors_record_failed(&d->out->errors, rec)) r = decode_household(d, c, rec);
        if (msgw_errors_record_failed(&d->out->errors, rec)) r = NULL;
        msgw_batch_add(d->out, r, r ? r->loc : household_loc(d, c, rec));
        rec++;
    }
    reject_duplicate_ids(d);
}

static bool within_limits(decoder *d)
{
    size_t nhouseholds = d->nhouseholds;
    if (nhouseholds == 0) {
        msgw_error_add(&d->out->errors, -1, "/" MCA_ROOT, MCA_HOUSEHOLD, "mca.required",
                       "a roster carries at least one Household");
        return false;
    }
    size_t max = d->ctx->max_records;
    if (max && nhouseholds > max) {
        msgw_error_add(&d->out->errors, -1, "/" MCA_ROOT, MCA_HOUSEHOLD, "mca.limits.records",
                       "%zu households in one roster; the limit is %zu (split the batch)",
                       nhouseholds, max);
        return false;
    }
    return true;
}

static void decode_document(decoder *d, const char *media_type, const char *buf, size_t len)
{
    size_t tlen = 0;
    const char *text = utf8_text(d, media_type, buf, len, &tlen);
    if (!text) return;
    xmlDocPtr doc = msgw_xml_parse(text, tlen, d->ctx->max_depth, &d->out->errors);
    if (!doc) return;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (check_root(d, root)) {
        d->nhouseholds = number_households(root);
        if (within_limits(d) && validate(d, doc) && check_header(d, root))
            decode_households(d, root);
    }
    xmlFreeDoc(doc);
}

void mca_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf, size_t len,
                msgw_batch *out)
{
    if (ctx->max_document_bytes && len > ctx->max_document_bytes) {
        msgw_error_add(&out->errors, -1, NULL, NULL, "mca.limits.size",
                       "document is %zu bytes; the limit is %zu", len, ctx->max_document_bytes);
        return;
    }
    decoder d = {.ctx = ctx, .out = out};
    if (!lookup_elements(ctx->dict, &d.els, &out->errors)) return;
    msgw_errors_init(&d.scratch);
    d.scratch_arena = msgw_arena_new(0);
    decode_document(&d, media_type, buf, len);
    msgw_arena_destroy(&d.scratch_arena);
    msgw_errors_clear(&d.scratch);
    free(d.members);
}
