-- events_seq_idx repeated the leading column of the primary key (seq, time): lookups and ranges by seq use the
-- primary key, and every inserted event paid for one index entry more (docs/benchmarks.md, warm drain).
DROP INDEX "events_seq_idx";