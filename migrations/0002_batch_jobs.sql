CREATE TABLE "daily_entity_aggregates" (
	"tenant" text NOT NULL,
	"entity_type" text NOT NULL,
	"entity_id" text NOT NULL,
	"day" timestamp with time zone NOT NULL,
	"count" bigint NOT NULL,
	"stats" jsonb NOT NULL,
	"job_run" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "daily_entity_aggregates_pkey" PRIMARY KEY("tenant","entity_type","entity_id","day")
);
--> statement-breakpoint
CREATE TABLE "job_runs" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "job_runs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"job" text NOT NULL,
	"scheduled_for" timestamp with time zone NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"status" text NOT NULL,
	"trigger" text NOT NULL,
	"rerun_of" bigint,
	"events_read" bigint DEFAULT 0 NOT NULL,
	"rows_written" bigint DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"duration_ms" bigint,
	"error" text
);
--> statement-breakpoint
CREATE INDEX "job_runs_job_scheduled_idx" ON "job_runs" USING btree ("job","scheduled_for");