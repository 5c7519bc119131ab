/*
 * The JSON answers to a push (docs/ingress.md, "POST /v1/records"): each
 * record's outcome with its errors and warnings, or a request refused whole
 * with its rule.  Shared by the receive queue (answers at submit) and the
 * commit worker (answers once committed).
 */
#ifndef MSGW_PIPELINE_ANSWER_H
#define MSGW_PIPELINE_ANSWER_H

#include <stddef.h>

#include "msgw/base/buf.h"
#include "msgw/model/model.h"
#include "msgw/store/store.h"

/* A request refused whole: {"status", "errors": [{"rule", "message"}]} into out; returns status. */
int answer_refuse(msgw_buf *out, int status, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The answer to a request: 202 when any record was stored (items: the committed ones, in batch
 * order; NULL: none), else 400 / 422 with every error; deferred: stored for the evaluator, another
 * instance ("evaluation": "deferred", docs/cluster.md).  Returns the status. */
int answer_batch(const msgw_batch *b, const msgw_store_item *items, size_t transitions, size_t messages,
                 bool deferred, msgw_buf *out);

#endif
