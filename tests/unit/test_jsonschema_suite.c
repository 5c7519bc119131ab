/*
 * Runs the official JSON Schema Test Suite (draft 2020-12, in
 * $MSGW_SHARED/json-schema-test-suite) against gateway/validate/jsonschema.c.  Every
 * file is either run or listed as skipped with the reason; inside a run file
 * the few groups or cases that need a remote document or something the
 * validator deliberately refuses are listed the same way.  Any failing case
 * of a run file fails the test.  Each case is validated twice, once
 * collecting errors and once without, because the two paths short-circuit
 * differently.  If the suite's remotes/ folder is present, it serves the
 * http://localhost:1234/ references and those cases run too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "msgw/base/error.h"
#include "msgw/validate/jsonschema.h"

typedef struct {
    const char *file;
    const char *reason;
} file_skip;

/* Skips with this reason run after all when the suite's remotes/ folder is present. */
static const char remotes_reason[] =
    "needs the suite's remotes/ (http://localhost:1234/), not in this copy of the suite";
#define REMOTES remotes_reason
#define REMOTE_BASE "http://localhost:1234/"

/* Whole files that need documents this copy of the suite lacks. */
static const file_skip skipped_files[] = {
    {"refRemote.json", REMOTES},
    {"vocabulary.json", "needs custom meta-schemas from http://localhost:1234/ ($vocabulary)"},
};

typedef struct {
    const char *file;
    const char *group;
    const char *test; /* NULL: the whole group */
    const char *reason;
} case_skip;

static const case_skip skipped_cases[] = {
    {"format.json", "date format", "invalid date string is only an annotation by default",
     "msgw asserts format \"date\" (the generated schemas rely on it)"},
    {"format.json", "date-time format", "invalid date-time string is only an annotation by default",
     "msgw asserts format \"date-time\""},
    {"dynamicRef.json", "strict-tree schema, guards against misspelled properties", NULL, REMOTES},
    {"dynamicRef.json", "tests for implementation dynamic anchor and reference link", NULL, REMOTES},
    {"dynamicRef.json", "$ref and $dynamicAnchor are independent of order - $defs first", NULL,
     REMOTES},
    {"dynamicRef.json", "$ref and $dynamicAnchor are independent of order - $ref first", NULL,
     REMOTES},
    {"dynamicRef.json", "$ref to $dynamicRef finds detached $dynamicAnchor", NULL, REMOTES},
    {"ref.json", "remote ref, containing refs itself", NULL,
     "needs the draft 2020-12 meta-schema (remote, uses $dynamicRef)"},
    {"defs.json", "validate definition against metaschema", NULL,
     "needs the draft 2020-12 meta-schema (remote, uses $dynamicRef)"},
    {"pattern.json", "pattern with Unicode property escape requires unicode mode", NULL,
     "\\p{...} cannot be translated to a POSIX regex (compile error by design)"},
    {"patternProperties.json", "patternProperties with Unicode property escape", NULL,
     "\\p{...} cannot be translated to a POSIX regex (compile error by design)"},
    {"optional/ecmascript-regex.json", "patterns always use unicode semantics with pattern", NULL,
     "\\p{...} is not supported"},
    {"optional/ecmascript-regex.json", "pattern with non-ASCII digits", NULL,
     "\\p{...} is not supported"},
    {"optional/ecmascript-regex.json", "patterns always use unicode semantics with patternProperties",
     NULL, "\\p{...} is not supported"},
    {"optional/ecmascript-regex.json", "patternProperties with non-ASCII digits", NULL,
     "\\p{...} is not supported"},
};

/* Files under optional/ that are run: the formats msgw asserts, and behaviour it has. */
static const char *const optional_run[] = {
    "optional/format/date.json",    "optional/format/date-time.json",
    "optional/anchor.json",         "optional/ecmascript-regex.json",
    "optional/float-overflow.json", "optional/id.json",
    "optional/no-schema.json",      "optional/non-bmp-regex.json",
    "optional/refOfUnknownKeyword.json", "optional/unknownKeyword.json",
    "optional/dynamicRef.json",
};

static const file_skip skipped_optional[] = {
    {"optional/bignum.json", "jansson rejects integers beyond 64 bits when parsing"},
    {"optional/cross-draft.json", "needs remote schemas of other drafts"},
    {"optional/dependencies-compatibility.json",
     "\"dependencies\" (before 2019-09) is rejected as unsupported"},
    {"optional/format-assertion.json", "needs remote meta-schemas ($vocabulary)"},
};

typedef struct {
    int passed, failed, skipped;
} tally;

static const char *suite_dir(void)
{
    static char dir[4096];
    const char *shared = getenv("MSGW_SHARED");
    const char *root = getenv("MSGW_SOURCE_ROOT");
    if (shared)
        snprintf(dir, sizeof dir, "%s/json-schema-test-suite/draft2020-12", shared);
    else if (root)
        snprintf(dir, sizeof dir, "%s/../shared/json-schema-test-suite/draft2020-12", root);
    else
        snprintf(dir, sizeof dir, "../shared/json-schema-test-suite/draft2020-12");
    return dir;
}

/* The suite's remotes/ folder, or NULL when this copy has none. */
static const char *remotes_dir(void)
{
    static char dir[4200];
    snprintf(dir, sizeof dir, "%s", suite_dir());
    char *slash = strrchr(dir, '/'); /* next to draft2020-12/, by name: it may be a symlink */
    snprintf(slash ? slash + 1 : dir, sizeof dir - (size_t)(slash ? slash + 1 - dir : 0),
             "remotes");
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    closedir(d);
    return dir;
}

/* Serves http://localhost:1234/X from remotes/X, as the suite's README asks. */
static json_t *load_remote(const char *uri, void *ud)
{
    const char *dir = ud;
    size_t n = strlen(REMOTE_BASE);
    if (strncmp(uri, REMOTE_BASE, n) != 0)
        return NULL;
    char path[8400];
    snprintf(path, sizeof path, "%s/%s", dir, uri + n);
    return json_load_file(path, 0, NULL);
}

static const char *unless_remotes(const char *reason)
{
    return reason == remotes_reason && remotes_dir() ? NULL : reason;
}

#define file_skip_reason_in(table, file)                                                           \
    unless_remotes(skip_reason(table, sizeof table / sizeof table[0], file))

static const char *skip_reason(const file_skip *table, size_t n, const char *file)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].file, file) == 0)
            return table[i].reason;
    return NULL;
}

static const char *case_skip_reason(const char *file, const char *group, const char *test)
{
    for (size_t i = 0; i < sizeof skipped_cases / sizeof skipped_cases[0]; i++) {
        const case_skip *s = &skipped_cases[i];
        if (strcmp(s->file, file) == 0 && strcmp(s->group, group) == 0 &&
            (!s->test || (test && strcmp(s->test, test) == 0)))
            return unless_remotes(s->reason);
    }
    return NULL;
}

static void print_errors(const msgw_errors *err)
{
    char line[1024];
    for (size_t i = 0; i < err->n; i++)
        printf("        %s\n", msgw_error_format(&err->v[i], line, sizeof line));
}

/* One case: the verdict must match, and must agree with and without error collection. */
static bool run_case(const msgw_jsonschema *s, const json_t *tcase, const char *file,
                     const char *group)
{
    const char *desc = json_string_value(json_object_get(tcase, "description"));
    bool want = json_is_true(json_object_get(tcase, "valid"));
    json_t *data = json_object_get(tcase, "data");
    msgw_errors err;
    msgw_errors_init(&err);
    bool loud = msgw_jsonschema_validate(s, data, &err, 7);
    bool quiet = msgw_jsonschema_validate(s, data, NULL, 7);
    bool consistent = loud == quiet && (loud ? err.n == 0 : err.n > 0);
    for (size_t i = 0; i < err.n; i++)
        consistent = consistent && err.v[i].record == 7;
    bool ok = loud == want && consistent;
    if (!ok) {
        printf("    FAIL %s | %s | %s: expected %s, got %s (without errors: %s)\n", file, group,
               desc, want ? "valid" : "invalid", loud ? "valid" : "invalid",
               quiet ? "valid" : "invalid");
        print_errors(&err);
    }
    msgw_errors_clear(&err);
    return ok;
}

static void run_group(const json_t *group, const char *file, tally *t)
{
    const char *gdesc = json_string_value(json_object_get(group, "description"));
    json_t *tests = json_object_get(group, "tests");
    const char *reason = case_skip_reason(file, gdesc, NULL);
    if (reason) {
        printf("    skip group \"%s\" (%zu cases): %s\n", gdesc, json_array_size(tests), reason);
        t->skipped += (int)json_array_size(tests);
        return;
    }
    msgw_errors err;
    msgw_errors_init(&err);
    const char *remotes = remotes_dir();
    msgw_jsonschema *s = msgw_jsonschema_new(json_object_get(group, "schema"),
                                             remotes ? load_remote : NULL, (void *)remotes, &err);
    if (!s) {
        printf("    FAIL %s | %s: schema does not compile\n", file, gdesc);
        print_errors(&err);
        t->failed += (int)json_array_size(tests);
        msgw_errors_clear(&err);
        return;
    }
    size_t i;
    json_t *tcase;
    json_array_foreach (tests, i, tcase) {
        const char *cdesc = json_string_value(json_object_get(tcase, "description"));
        const char *why = case_skip_reason(file, gdesc, cdesc);
        if (why) {
            printf("    skip case \"%s\" / \"%s\": %s\n", gdesc, cdesc, why);
            t->skipped++;
        } else if (run_case(s, tcase, file, gdesc)) {
            t->passed++;
        } else {
            t->failed++;
        }
    }
    msgw_jsonschema_destroy(&s);
    msgw_errors_clear(&err);
}

static void run_file(const char *dir, const char *file, tally *total)
{
    char path[4608];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t jerr;
    json_t *groups = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    tally t = {0};
    if (!json_is_array(groups)) {
        printf("  FAIL %s: cannot read (%s line %d)\n", file, jerr.text, jerr.line);
        total->failed++;
        json_decref(groups);
        return;
    }
    size_t i;
    json_t *group;
    json_array_foreach (groups, i, group)
        run_group(group, file, &t);
    printf("  ran  %-34s %3d/%-3d passed%s", file, t.passed, t.passed + t.failed,
           t.failed ? "  <-- FAILURES" : "");
    if (t.skipped)
        printf("  (%d skipped, reasons above)", t.skipped);
    printf("\n");
    total->passed += t.passed;
    total->failed += t.failed;
    total->skipped += t.skipped;
    json_decref(groups);
}

static int json_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static void test_draft2020_12(void **state)
{
    (void)state;
    const char *dir = suite_dir();
    struct dirent **names;
    int n = scandir(dir, &names, json_file, alphasort);
    if (n <= 0)
        fail_msg("no test suite files in %s (set MSGW_SHARED)", dir);
    tally total = {0};
    int files_run = 0;
    printf("JSON Schema Test Suite, draft 2020-12, from %s\n", dir);
    printf("remote references: %s\n", remotes_dir() ? remotes_dir() : "no remotes/ folder");
    for (int i = 0; i < n; i++) {
        const char *reason = file_skip_reason_in(skipped_files, names[i]->d_name);
        if (reason) {
            printf("  skip %-34s %s\n", names[i]->d_name, reason);
        } else {
            run_file(dir, names[i]->d_name, &total);
            files_run++;
        }
        free(names[i]);
    }
    free(names);
    printf("total: %d files run, %d passed, %d failed, %d cases skipped\n", files_run,
           total.passed, total.failed, total.skipped);
    assert_int_equal(total.failed, 0);
    assert_true(files_run >= 40);
}

static bool is_optional_run(const char *rel)
{
    for (size_t i = 0; i < sizeof optional_run / sizeof optional_run[0]; i++)
        if (strcmp(optional_run[i], rel) == 0)
            return true;
    return false;
}

static void list_optional_dir(const char *dir, const char *sub, tally *total)
{
    char path[4608];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    struct dirent **names;
    int n = scandir(path, &names, json_file, alphasort);
    for (int i = 0; i < n; i++) {
        char rel[512];
        snprintf(rel, sizeof rel, "%s/%s", sub, names[i]->d_name);
        if (is_optional_run(rel))
            run_file(dir, rel, total);
        else if (file_skip_reason_in(skipped_optional, rel))
            printf("  skip %-34s %s\n", rel, file_skip_reason_in(skipped_optional, rel));
        else if (strcmp(sub, "optional/format") == 0)
            printf("  skip %-34s format \"%.*s\" is an annotation in msgw (not asserted)\n",
                   rel, (int)(strlen(names[i]->d_name) - 5), names[i]->d_name);
        else
            printf("  skip %-34s (no reason recorded: add it to optional_run or "
                   "skipped_optional)\n",
                   rel);
        free(names[i]);
    }
    if (n > 0)
        free(names);
}

static void test_optional(void **state)
{
    (void)state;
    const char *dir = suite_dir();
    tally total = {0};
    printf("JSON Schema Test Suite, draft 2020-12, optional/\n");
    list_optional_dir(dir, "optional", &total);
    list_optional_dir(dir, "optional/format", &total);
    printf("optional total: %d passed, %d failed\n", total.passed, total.failed);
    assert_int_equal(total.failed, 0);
    assert_true(total.passed > 0);
}

/* The suite is not part of the project: a clone without it skips (meson's exit code 77). */
static bool suite_present(void)
{
    DIR *d = opendir(suite_dir());
    if (!d)
        return false;
    closedir(d);
    return true;
}

int main(void)
{
    if (!suite_present()) {
        printf("SKIP: the JSON Schema Test Suite is not at %s: this test needs "
               "json-schema-test-suite/draft2020-12 from github.com/json-schema-org/"
               "JSON-Schema-Test-Suite, in ../shared beside the checkout or under $MSGW_SHARED\n",
               suite_dir());
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draft2020_12),
        cmocka_unit_test(test_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
