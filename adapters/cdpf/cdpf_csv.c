/*
 * The disability federation's monthly roster of certificate holders as CSV
 * (text/csv, application/vnd.msgw.cdpf.roster+csv; docs/formats/cdpf.md).
 * One row per valid certificate; the header names the columns in Chinese, in
 * any order.  Legacy county systems export GB18030, newer ones UTF-8 with or
 * without a byte order mark, so the charset comes from the media type or is
 * detected.  No CSV library is in the dependency list, hence the small
 * RFC 4180 reader below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cdpf_internal.h"
#include "msgw/base/text.h"

/* ---- RFC 4180 reader ---- */

typedef struct csv_field {
    const char *p; /* raw bytes in the document's charset, quotes removed */
    size_t len;
    unsigned line; /* physical line the field starts on */
    bool quoted;
} csv_field;

typedef struct csv_row {
    csv_field *f; /* malloc'd, reused from row to row */
    size_t n, cap;
    unsigned line;
    const char *err_rule; /* first syntax error in the row, NULL if none */
    char err_msg[96];
    unsigned err_line;
    size_t err_col;
} csv_row;

typedef struct csv_reader {
    const char *buf;
    size_t len, pos;
    unsigned line;
    msgw_arena *a; /* for fields with escaped quotes; NULL: a scan that keeps no values */
} csv_reader;

typedef enum { CSV_ROW, CSV_END, CSV_FATAL } csv_status;

/* Keeps the row's first syntax error; col is the 1-based field number. */
static void row_error(csv_row *row, unsigned line, size_t col, const char *rule, const char *msg)
{
    if (row->err_rule) return;
    row->err_rule = rule;
    row->err_line = line;
    row->err_col = col;
    snprintf(row->err_msg, sizeof row->err_msg, "%s", msg);
}

static csv_field *push_field(csv_row *row)
{
    if (row->n == row->cap) {
        row->cap = row->cap ? row->cap * 2 : 16;
        row->f = realloc(row->f, row->cap * sizeof *row->f);
        if (!row->f) abort();
    }
    return &row->f[row->n++];
}

/* Counts a line break at pos: LF, CRLF (once) or a lone CR. */
static bool is_break(const csv_reader *r, size_t pos)
{
    char c = r->buf[pos];
    return c == '\n' || (c == '\r' && (pos + 1 >= r->len || r->buf[pos + 1] != '\n'));
}

/* "" inside a quoted field stands for one quote. */
static const char *unescape(csv_reader *r, const char *s, size_t len, size_t *out_len)
{
    if (!r->a) {
        *out_len = len;
        return s;
    }
    char *o = msgw_arena_alloc(r->a, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        o[n++] = s[i];
        if (s[i] == '"') i++;
    }
    *out_len = n;
    return o;
}

static bool read_quoted(csv_reader *r, csv_row *row, csv_field *f)
{
    size_t start = ++r->pos;
    bool escaped = false;
    for (;;) {
        if (r->pos >= r->len) return false;
        char c = r->buf[r->pos];
        if (c == '"') {
            if (r->pos + 1 < r->len && r->buf[r->pos + 1] == '"') {
                escaped = true;
                r->pos += 2;
                continue;
            }
            break;
        }
        if (is_break(r, r->pos)) r->line++;
        r->pos++;
    }
    size_t end = r->pos++;
    if (escaped)
        f->p = unescape(r, r->buf + start, end - start, &f->len);
    else {
        f->p = r->buf + start;
        f->len = end - start;
    }
    if (r->pos < r->len && r->buf[r->pos] != ',' && r->buf[r->pos] != '\r' &&
        r->buf[r->pos] != '\n') {
        row_error(row, r->line, row->n, "csv.quote",
                  "unexpected character after a closing quote (a quote inside a quoted field "
                  "is written \"\")");
        while (r->pos < r->len && r->buf[r->pos] != ',' && r->buf[r->pos] != '\r' &&
               r->buf[r->pos] != '\n')
            r->pos++;
    }
    return true;
}

static void read_plain(csv_reader *r, csv_row *row, csv_field *f)
{
    size_t start = r->pos;
    while (r->pos < r->len) {
        char c = r->buf[r->pos];
        if (c == ',' || c == '\r' || c == '\n') break;
        if (c == '"')
            row_error(row, r->line, row->n, "csv.quote",
                      "a quote inside an unquoted field (quote the whole field and double the "
                      "quote)");
        r->pos++;
    }
    f->p = r->buf + start;
    f->len = r->pos - start;
}

/*
 * Reads the next row.  A syntax error inside a row is kept in the row (the
 * row is rejected, reading goes on); only an unterminated quote, which
 * swallows the rest of the document, is fatal.
 */
static csv_status csv_next(csv_reader *r, csv_row *row)
{
    row->n = 0;
    row->err_rule = NULL;
    if (r->pos >= r->len) return CSV_END;
    row->line = r->line;
    for (;;) {
        csv_field *f = push_field(row);
        f->line = r->line;
        f->quoted = r->pos < r->len && r->buf[r->pos] == '"';
        if (f->quoted) {
            unsigned line = r->line;
            if (!read_quoted(r, row, f)) {
                row->err_rule = NULL;
                row_error(row, line, row->n, "csv.unterminated_quote",
                          "a quoted field is never closed: the rest of the document is inside it");
                return CSV_FATAL;
            }
        } else {
            read_plain(r, row, f);
        }
        if (r->pos >= r->len) return CSV_ROW;
        char c = r->buf[r->pos++];
        if (c == ',') continue;
        if (c == '\r' && r->pos < r->len && r->buf[r->pos] == '\n') r->pos++;
        r->line++;
        return CSV_ROW;
    }
}

static bool row_blank(const csv_row *row)
{
    return row->n == 1 && row->f[0].len == 0 && !row->f[0].quoted && !row->err_rule;
}

/* ---- the roster's columns ---- */

typedef enum {
    COL_CERTNO,
    COL_NAME,
    COL_SEX,
    COL_BIRTH,
    COL_ID,
    COL_CATEGORY,
    COL_GRADE,
    COL_REGION,
    COL_HUKOU_TYPE,
    COL_ISSUED,
    COL_UNTIL,
    NCOLS
} col_id;

/* In the order of schemas/messages/cdpf-roster.json, which is also the order written. */
static const struct column {
    const char *name;
    size_t element; /* offset in cdpf_elements */
    bool required;
} columns[NCOLS] = {
    [COL_CERTNO] = {"残疾人证号", offsetof(cdpf_elements, certno), true},
    [COL_NAME] = {"姓名", offsetof(cdpf_elements, name), true},
    [COL_SEX] = {"性别", offsetof(cdpf_elements, sex), false},
    [COL_BIRTH] = {"出生日期", offsetof(cdpf_elements, birth_date), false},
    [COL_ID] = {"身份证号", offsetof(cdpf_elements, id_number), true},
    [COL_CATEGORY] = {"残疾类别", offsetof(cdpf_elements, category), true},
    [COL_GRADE] = {"残疾等级", offsetof(cdpf_elements, grade), true},
    [COL_REGION] = {"户籍地行政区划", offsetof(cdpf_elements, hukou_region), false},
    [COL_HUKOU_TYPE] = {"户口性质", offsetof(cdpf_elements, hukou_type), false},
    [COL_ISSUED] = {"发证日期", offsetof(cdpf_elements, start_date), true},
    [COL_UNTIL] = {"有效期至", offsetof(cdpf_elements, end_date), true},
};

static const msgw_element *column_element(const cdpf_elements *els, col_id c)
{
    return *(const msgw_element *const *)((const char *)els + columns[c].element);
}

/* ---- decoding ---- */

typedef enum { CS_UTF8, CS_GB18030, CS_DETECTED_GB18030 } csv_charset;

typedef struct csv_decoder {
    const msgw_adapter_ctx *ctx;
    cdpf_elements els;
    msgw_batch *out;
    csv_charset cs;
    bool utf8_checked; /* the whole document is known to be valid UTF-8 */
    int pos[NCOLS];    /* field index of each column in the rows, -1 if absent */
    size_t nheader;
    const char **hnames; /* the header's names (UTF-8), to name the field of a syntax error */
    int rec;
} csv_decoder;

static char *where(char *buf, size_t len, unsigned line, size_t col)
{
    snprintf(buf, len, "line %u, column %zu", line, col);
    return buf;
}

static bool ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return false;
    return true;
}

static bool has_nul(const char *s, size_t n)
{
    return memchr(s, '\0', n) != NULL;
}

/* The field as UTF-8, trimmed of surrounding blanks; errors name the column. */
static bool field_text(csv_decoder *d, const csv_field *f, size_t col, const char *field,
                       const char **s, size_t *n)
{
    char loc[64];
    const char *p = f->p;
    size_t len = f->len;
    if (has_nul(p, len)) {
        msgw_error_add(&d->out->errors, d->rec, where(loc, sizeof loc, f->line, col), field,
                       "text.nul", "the value holds a NUL byte");
        return false;
    }
    if (d->cs == CS_UTF8 && !d->utf8_checked) {
        size_t ok = msgw_utf8_valid_prefix(p, len);
        if (ok != len) {
            msgw_error_add(&d->out->errors, d->rec, where(loc, sizeof loc, f->line, col), field,
                           "text.utf8", "invalid UTF-8 at byte %zu of the value", ok + 1);
            return false;
        }
    } else if (d->cs != CS_UTF8 && !ascii(p, len)) {
        size_t bad = 0, outn = 0;
        const char *u = msgw_gb18030_to_utf8(p, len, d->out->arena, &outn, &bad);
        if (!u) {
            bool declared = d->cs == CS_GB18030;
            msgw_error_add(&d->out->errors, d->rec, where(loc, sizeof loc, f->line, col), field,
                           declared ? "text.gb18030" : "text.encoding",
                           declared ? "invalid GB18030 at byte %zu of the value"
                                    : "neither UTF-8 nor GB18030 (byte %zu of the value)",
                           bad + 1);
            return false;
        }
        p = u;
        len = outn;
    }
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    *s = p;
    *n = len;
    return true;
}

static bool header_column(csv_decoder *d, const csv_row *row, size_t j, bool *seen)
{
    char loc[64];
    const char *name;
    size_t len;
    d->rec = -1;
    if (!field_text(d, &row->f[j], j + 1, NULL, &name, &len)) return false;
    d->hnames[j] = msgw_arena_strndup(d->out->arena, name, len);
    where(loc, sizeof loc, row->f[j].line, j + 1);
    for (int c = 0; c < NCOLS; c++) {
        if (strlen(columns[c].name) != len || memcmp(columns[c].name, name, len) != 0) continue;
        if (seen[c]) {
            msgw_error_add(&d->out->errors, -1, loc, columns[c].name, "csv.duplicate_column",
                           "column %s appears twice in the header", columns[c].name);
            return false;
        }
        seen[c] = true;
        d->pos[c] = (int)j;
        return true;
    }
    msgw_warning_add(&d->out->errors, -1, loc, len ? d->hnames[j] : NULL, "csv.unknown_column",
                     "column '%.*s' is not a roster column; its values are ignored", (int)len,
                     name);
    return true;
}

static bool read_header(csv_decoder *d, csv_reader *r, csv_row *row)
{
    csv_status st;
    while ((st = csv_next(r, row)) == CSV_ROW && row_blank(row)) {
    }
    if (st != CSV_ROW) {
        msgw_error_add(&d->out->errors, -1, NULL, NULL, "csv.empty",
                       "the roster has no header row");
        return false;
    }
    char loc[64];
    if (row->err_rule) {
        msgw_error_add(&d->out->errors, -1, where(loc, sizeof loc, row->err_line, row->err_col),
                       NULL, row->err_rule, "%s", row->err_msg);
        return false;
    }
    bool seen[NCOLS] = {false}, ok = true;
    for (int c = 0; c < NCOLS; c++)
        d->pos[c] = -1;
    d->hnames = msgw_arena_alloc(d->out->arena, row->n * sizeof *d->hnames);
    for (size_t j = 0; j < row->n; j++)
        ok &= header_column(d, row, j, seen);
    for (int c = 0; c < NCOLS; c++) {
        if (seen[c] || !columns[c].required) continue;
        snprintf(loc, sizeof loc, "line %u", row->line);
        msgw_error_add(&d->out->errors, -1, loc, columns[c].name, "csv.missing_column",
                       "the header has no %s column, which the roster requires", columns[c].name);
        ok = false;
    }
    d->nheader = row->n;
    return ok;
}

/* Parses column c of the row; an empty optional value leaves *present false. */
static bool cell(csv_decoder *d, const csv_row *row, col_id c, msgw_value *v, bool *present)
{
    *present = false;
    if (d->pos[c] < 0) return true;
    const csv_field *f = &row->f[d->pos[c]];
    size_t col = (size_t)d->pos[c] + 1;
    const char *s;
    size_t n;
    if (!field_text(d, f, col, columns[c].name, &s, &n)) return false;
    char loc[64];
    where(loc, sizeof loc, f->line, col);
    if (n == 0) {
        if (!columns[c].required) return true;
        msgw_error_add(&d->out->errors, d->rec, loc, columns[c].name, "csv.required",
                       "%s is empty; the roster requires it", columns[c].name);
        return false;
    }
    *present = true;
    return msgw_dict_parse(d->ctx->dict, column_element(&d->els, c), s, n, v, d->out->arena,
                           &d->out->errors, d->rec, loc, columns[c].name);
}

/* A roster row restates a valid certificate: it maps as its issue event (docs/formats/cdpf.md). */
static msgw_record *map_row(csv_decoder *d, const csv_row *row, const char *loc)
{
    msgw_value v[NCOLS];
    bool has[NCOLS], ok = true;
    memset(v, 0, sizeof v);
    for (int c = 0; c < NCOLS; c++)
        ok &= cell(d, row, (col_id)c, &v[c], &has[c]);
    if (!ok) return NULL;
    cdpf_cert cert;
    cdpf_cert_init(&cert);
    cert.loc = loc;
    cert.event = (msgw_value){.kind = MSGW_V_CODE, .u.s = "issue"};
    cert.certno = v[COL_CERTNO];
    cert.category = v[COL_CATEGORY];
    cert.grade = v[COL_GRADE];
    cert.valid_from = v[COL_ISSUED].u.d;
    cert.valid_to = v[COL_UNTIL].u.d;
    msgw_person *p = &cert.holder;
    snprintf(p->id_number, sizeof p->id_number, "%s", v[COL_ID].u.s);
    p->name = v[COL_NAME].u.s;
    p->sex = has[COL_SEX] ? v[COL_SEX].u.s : NULL;
    p->birth_date = has[COL_BIRTH] ? v[COL_BIRTH].u.d : MSGW_DATE_NONE;
    p->hukou_region = has[COL_REGION] ? v[COL_REGION].u.s : NULL;
    p->hukou_type = has[COL_HUKOU_TYPE] ? v[COL_HUKOU_TYPE].u.s : NULL;
    p->loc = loc;
    return cdpf_record_build(&cert, d->out->arena);
}

static bool row_shape(csv_decoder *d, const csv_row *row)
{
    char loc[64];
    if (row->err_rule) {
        const char *field = row->err_col <= d->nheader ? d->hnames[row->err_col - 1] : NULL;
        msgw_error_add(&d->out->errors, d->rec, where(loc, sizeof loc, row->err_line, row->err_col),
                       field && *field ? field : NULL, row->err_rule, "%s", row->err_msg);
        return false;
    }
    if (row->n != d->nheader) {
        size_t col = (row->n < d->nheader ? row->n : d->nheader) + 1;
        unsigned line = row->f[col - 1 < row->n ? col - 1 : row->n - 1].line;
        msgw_error_add(&d->out->errors, d->rec, where(loc, sizeof loc, line, col), NULL,
                       "csv.field_count", "the row has %zu fields, the header has %zu", row->n,
                       d->nheader);
        return false;
    }
    return true;
}

static void read_rows(csv_decoder *d, csv_reader *r, csv_row *row)
{
    size_t n = 0;
    while (csv_next(r, row) == CSV_ROW) {
        if (row_blank(row)) continue;
        d->rec = (int)d->out->nitems;
        const char *loc = msgw_arena_printf(d->out->arena, "line %u", row->line);
        msgw_record *rec = row_shape(d, row) ? map_row(d, row, loc) : NULL;
        if (rec && msgw_errors_record_failed(&d->out->errors, d->rec)) rec = NULL;
        msgw_batch_add(d->out, rec, loc);
        n++;
    }
    if (n == 0)
        msgw_warning_add(&d->out->errors, -1, NULL, NULL, "csv.no_rows",
                         "the roster has a header but no rows");
}

/*
 * A first pass over the whole document: an unterminated quote or too many
 * rows rejects the document before any record is reported.
 */
static bool scan(csv_decoder *d, const char *buf, size_t len, unsigned first_line)
{
    csv_reader r = {.buf = buf, .len = len, .line = first_line};
    csv_row row = {0};
    csv_status st;
    size_t rows = 0;
    while ((st = csv_next(&r, &row)) == CSV_ROW)
        rows += !row_blank(&row);
    bool ok = true;
    char loc[64];
    if (st == CSV_FATAL) {
        msgw_error_add(&d->out->errors, -1, where(loc, sizeof loc, row.err_line, row.err_col), NULL,
                       row.err_rule, "%s", row.err_msg);
        ok = false;
    } else if (d->ctx->max_records && rows > d->ctx->max_records + 1) {
        msgw_error_add(&d->out->errors, -1, NULL, NULL, "document.records",
                       "the roster holds %zu rows, the limit is %zu", rows - 1,
                       d->ctx->max_records);
        ok = false;
    }
    free(row.f);
    return ok;
}

/* Charset: the media type's parameter if any, else UTF-8 when every byte is valid UTF-8, else
 * GB18030. */
static bool choose_charset(csv_decoder *d, const char *media_type, const char **buf, size_t *len)
{
    size_t cl;
    const char *cs = cdpf_media_charset(media_type, &cl);
    bool bom = *len >= 3 && memcmp(*buf, "\xEF\xBB\xBF", 3) == 0;
    if (cs && msgw_charset_is_gb(cs, cl)) {
        if (bom) {
            msgw_error_add(&d->out->errors, -1, "line 1", NULL, "text.bom",
                           "the document starts with a UTF-8 byte order mark but the media type "
                           "says charset=%.*s",
                           (int)cl, cs);
            return false;
        }
        d->cs = CS_GB18030;
        return true;
    }
    if (cs && !(cl == 5 && strncasecmp(cs, "utf-8", 5) == 0) &&
        !(cl == 4 && strncasecmp(cs, "utf8", 4) == 0)) {
        msgw_error_add(&d->out->errors, -1, NULL, NULL, "text.charset",
                       "charset '%.*s' is not read: send UTF-8 or GB18030", (int)cl, cs);
        return false;
    }
    if (bom) {
        *buf += 3;
        *len -= 3;
    }
    d->cs = CS_UTF8;
    if (cs || bom) return true;
    d->utf8_checked = msgw_utf8_valid_prefix(*buf, *len) == *len;
    if (!d->utf8_checked) d->cs = CS_DETECTED_GB18030;
    return true;
}

void cdpf_csv_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf,
                     size_t len, msgw_batch *out)
{
    if (!cdpf_check_size(ctx, len, &out->errors)) return;
    csv_decoder d = {.ctx = ctx, .out = out};
    if (!cdpf_elements_lookup(ctx->dict, &d.els, &out->errors)) return;
    if (!choose_charset(&d, media_type, &buf, &len)) return;
    if (!scan(&d, buf, len, 1)) return;
    csv_reader r = {.buf = buf, .len = len, .line = 1, .a = out->arena};
    csv_row row = {0};
    if (read_header(&d, &r, &row)) read_rows(&d, &r, &row);
    free(row.f);
}

/* ---- encoding ---- */

static void put_date(msgw_buf *b, msgw_date d)
{
    char s[11];
    if (d != MSGW_DATE_NONE) msgw_buf_puts(b, msgw_date_format(d, s));
}

static void put_field(msgw_buf *b, const char *s, bool last)
{
    msgw_buf_csv_field(b, s ? s : "");
    msgw_buf_puts(b, last ? "\r\n" : ",");
}

/* Only a currently valid certificate is a roster row; other events have no row form. */
static bool roster_row(msgw_buf *b, const msgw_record *r, int i, msgw_errors *e)
{
    cdpf_cert c;
    if (!cdpf_cert_from_record(r, i, &c, e)) return false;
    char loc[32];
    snprintf(loc, sizeof loc, "record %d", i);
    if (strcmp(c.event.u.s, "issue") != 0) {
        msgw_error_add(e, i, loc, "certificate_event", "encode.roster_event",
                       "a roster row states a valid certificate; a %s event has no roster form "
                       "(send it as certificate events XML)",
                       c.event.u.s);
        return false;
    }
    if (c.valid_from == MSGW_DATE_NONE || c.valid_to == MSGW_DATE_NONE || !c.holder.name) {
        msgw_error_add(e, i, loc, c.holder.name ? "valid_from" : "name", "encode.required",
                       "a roster row needs the holder's name, the issue date and the expiry date");
        return false;
    }
    const msgw_person *p = &c.holder;
    put_field(b, c.certno.u.s, false);
    put_field(b, p->name, false);
    put_field(b, p->sex, false);
    put_date(b, p->birth_date);
    msgw_buf_puts(b, ",");
    put_field(b, p->id_number, false);
    put_field(b, c.category.u.s, false);
    put_field(b, c.grade.u.s, false);
    put_field(b, p->hukou_region, false);
    put_field(b, p->hukou_type, false);
    put_date(b, c.valid_from);
    msgw_buf_puts(b, ",");
    put_date(b, c.valid_to);
    msgw_buf_puts(b, "\r\n");
    return true;
}

bool cdpf_csv_encode(const msgw_adapter_ctx *ctx, bool gb18030, const msgw_record *const *recs,
                     size_t n, msgw_buf *out, msgw_errors *e)
{
    msgw_buf doc;
    msgw_buf_init(&doc);
    for (int c = 0; c < NCOLS; c++)
        put_field(&doc, columns[c].name, c == NCOLS - 1);
    bool ok = true;
    for (size_t i = 0; i < n; i++)
        ok &= roster_row(&doc, recs[i], (int)i, e);
    if (ok && gb18030) {
        msgw_arena *a = msgw_arena_new(doc.len * 2 + 64);
        size_t gn = 0;
        char *gb = msgw_utf8_to_gb18030(doc.data, doc.len, a, &gn);
        if (gb)
            msgw_buf_append(out, gb, gn);
        else
            msgw_error_add(e, -1, NULL, NULL, "encode.charset",
                           "the roster cannot be written in GB18030");
        ok = gb != NULL;
        msgw_arena_destroy(&a);
    } else if (ok) {
        msgw_buf_append(out, doc.data, doc.len);
    }
    msgw_buf_free(&doc);
    return ok;
}
