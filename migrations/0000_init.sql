CREATE TABLE "events" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"tenant" text NOT NULL,
	"id" text NOT NULL,
	"source" text NOT NULL,
	"type" text NOT NULL,
	"subject" text,
	"time" timestamp(6) with time zone NOT NULL,
	"recorded_time" timestamp(6) with time zone NOT NULL,
	"partition_key" text NOT NULL,
	"attributes" jsonb NOT NULL,
	"data" jsonb
);
--> statement-breakpoint
CREATE TABLE "projection_checkpoints" (
	"projection" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "events_tenant_source_id_key" ON "events" USING btree ("tenant","source","id");--> statement-breakpoint
CREATE INDEX "events_tenant_time_seq_idx" ON "events" USING btree ("tenant","time","seq");--> statement-breakpoint
CREATE INDEX "events_tenant_type_time_seq_idx" ON "events" USING btree ("tenant","type","time","seq");--> statement-breakpoint
CREATE INDEX "events_tenant_subject_time_seq_idx" ON "events" USING btree ("tenant","subject","time","seq") WHERE "events"."subject" is not null;--> statement-breakpoint
CREATE INDEX "events_tenant_id_idx" ON "events" USING btree ("tenant","id");