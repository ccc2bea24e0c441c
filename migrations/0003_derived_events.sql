CREATE TABLE "alerts" (
	"tenant" text NOT NULL,
	"id" text NOT NULL,
	"pipeline" text NOT NULL,
	"stage" text NOT NULL,
	"key" text NOT NULL,
	"value" double precision NOT NULL,
	"score" double precision NOT NULL,
	"threshold" double precision NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"summary" text NOT NULL,
	"anomaly_id" text NOT NULL,
	"suppressed_before" bigint NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "alerts_pkey" PRIMARY KEY("tenant","id")
);
--> statement-breakpoint
CREATE TABLE "anomalies" (
	"tenant" text NOT NULL,
	"id" text NOT NULL,
	"pipeline" text NOT NULL,
	"stage" text NOT NULL,
	"key" text NOT NULL,
	"value" double precision NOT NULL,
	"score" double precision NOT NULL,
	"threshold" double precision NOT NULL,
	"components" jsonb NOT NULL,
	"event_time" timestamp with time zone NOT NULL,
	"input" jsonb NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "anomalies_pkey" PRIMARY KEY("tenant","id")
);
--> statement-breakpoint
CREATE TABLE "window_results" (
	"tenant" text NOT NULL,
	"pipeline" text NOT NULL,
	"stage" text NOT NULL,
	"key" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"aggregate" text NOT NULL,
	"value" jsonb,
	"count" bigint NOT NULL,
	"final" boolean NOT NULL,
	"provisional" boolean NOT NULL,
	"update_count" bigint NOT NULL,
	"trigger" text NOT NULL,
	"event_id" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "window_results_pkey" PRIMARY KEY("tenant","pipeline","stage","key","window_start","window_end")
);
--> statement-breakpoint
CREATE INDEX "alerts_tenant_at_idx" ON "alerts" USING btree ("tenant","at");--> statement-breakpoint
CREATE INDEX "anomalies_tenant_time_idx" ON "anomalies" USING btree ("tenant","event_time");--> statement-breakpoint
CREATE INDEX "anomalies_tenant_key_time_idx" ON "anomalies" USING btree ("tenant","key","event_time");--> statement-breakpoint
CREATE INDEX "window_results_tenant_pipeline_start_idx" ON "window_results" USING btree ("tenant","pipeline","window_start");