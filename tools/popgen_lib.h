/*
 * The synthetic population generator's core, shared by msgw-popgen, the
 * decode benchmark and test_popgen: one seeded population of households and
 * persons, turned into the canonical records each department would send
 * about the same people, and written through each adapter's own encoder.
 * The same seed and options always give the same people (docs/popgen.md).
 */
#ifndef MSGW_POPGEN_LIB_H
#define MSGW_POPGEN_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msgw/decode/decode.h"
#include "msgw/base/buf.h"
#include "msgw/base/date.h"
#include "msgw/model/dict.h"
#include "msgw/base/error.h"
#include "msgw/model/model.h"

/* One output document kind: which adapter writes it and under which media type. */
typedef enum {
    POPGEN_MCA,       /* 民政 household assistance roster, XML */
    POPGEN_HRSS,      /* 人社 insurance / employment / retirement records, JSON */
    POPGEN_HEALTH,    /* 卫健 FHIR R4 transaction Bundle */
    POPGEN_CDPF_XML,  /* 残联 certificate events, XML */
    POPGEN_CDPF_CSV,  /* 残联 monthly roster of valid certificates, CSV */
    POPGEN_CANONICAL, /* every record above (except roster rows) as canonical JSON */
    POPGEN_NFORMATS
} popgen_format;

typedef struct popgen_format_info {
    const char *name;       /* --format value: "mca", "cdpf-xml", ... */
    const char *adapter;    /* adapter name for msgw_adapter_find / msgw validate --from */
    const char *media_type; /* passed to the adapter's encode and decode */
    const char *stem;       /* output file name without extension */
    const char *ext;        /* "xml", "json", "csv" */
} popgen_format_info;

const popgen_format_info *popgen_format_get(popgen_format f);

/* The reference day ages and periods are computed against (fixed, for reproducibility). */
#define POPGEN_DEFAULT_AS_OF_Y 2026
#define POPGEN_DEFAULT_AS_OF_M 6
#define POPGEN_DEFAULT_AS_OF_D 30

/* Tianjin minimum living allowance (最低生活保障标准), 2024: 1010 yuan per person per month. */
#define POPGEN_DIBAO_STANDARD_FEN 101000

typedef struct popgen_opts {
    uint64_t seed;
    size_t households;
    const char *region; /* "beijing" | "tianjin" | "langfang" | "all" */
    msgw_date as_of;    /* MSGW_DATE_NONE: the default above */
    /*
     * Overrides for benchmarks that need many records of one kind; 0 keeps the
     * population's natural shares.  low_income_percent: share of households
     * whose per-capita income is below the allowance standard (naturally ~7%).
     * disability_percent: share of persons holding a certificate (naturally ~6%).
     */
    unsigned low_income_percent;
    unsigned disability_percent;
} popgen_opts;

void popgen_opts_defaults(popgen_opts *o);

typedef struct popgen popgen;

/*
 * Generates the population.  Needs the dictionary for the region code list.
 * NULL with an error in e on bad options (unknown region, no households).
 */
popgen *popgen_new(const msgw_dict *dict, const popgen_opts *o, msgw_errors *e);
void popgen_destroy(popgen **p);

size_t popgen_household_count(const popgen *p);
size_t popgen_person_count(const popgen *p);

/*
 * The canonical records format f carries, in output order (owned by p).
 * groups[i] (when groups != NULL) names the person or household record i is
 * about: a document is split only where the group changes, so everything a
 * decoder needs to read one person back (a FHIR Patient and its death) stays
 * in one document.
 */
const msgw_record *const *popgen_records(popgen *p, popgen_format f, size_t *n,
                                         const size_t **groups);

/* Encodes recs with the format's adapter into out (appended); false with errors in e. */
bool popgen_encode(const msgw_adapter_ctx *ctx, popgen_format f, const msgw_record *const *recs,
                   size_t n, msgw_buf *out, msgw_errors *e);

/* Counts records of each kind in recs[0..n) into a small table (for tests and summaries). */
typedef struct popgen_kind_count {
    const char *kind;
    size_t n;
} popgen_kind_count;

#define POPGEN_MAX_KINDS 24
size_t popgen_count_kinds(const msgw_record *const *recs, size_t n,
                          popgen_kind_count out[POPGEN_MAX_KINDS]);

/*
 * Writes format f into dir: one file DIR/<stem>.<ext>, or, when it holds more
 * than per_file records (0 = no limit), DIR/<stem>-001.<ext>, -002, ...
 * *files receives the number of files written.  On an encoder failure the
 * errors are in e and nothing more of this format is written.
 */
bool popgen_write(popgen *p, const msgw_adapter_ctx *ctx, popgen_format f, const char *dir,
                  size_t per_file, size_t *files, msgw_errors *e);

/* Path of file index i (0-based) of nfiles for format f in dir, into buf. */
char *popgen_file_path(popgen_format f, const char *dir, size_t i, size_t nfiles, char *buf,
                       size_t len);

#endif
