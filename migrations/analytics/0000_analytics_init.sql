CREATE TABLE "alert_acknowledgements" (
	"tenant" text NOT NULL,
	"alert_id" text NOT NULL,
	"acknowledged_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"acknowledged_by" text,
	"note" text,
	CONSTRAINT "alert_acknowledgements_pkey" PRIMARY KEY("tenant","alert_id")
);
--> statement-breakpoint
CREATE TABLE "alerts" (
	"tenant" text NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"key" text,
	"subject" text,
	"time" timestamp(6) with time zone NOT NULL,
	"score" double precision,
	"seq" bigint NOT NULL,
	"data" jsonb NOT NULL,
	CONSTRAINT "alerts_pkey" PRIMARY KEY("tenant","id")
);
--> statement-breakpoint
CREATE TABLE "anomalies" (
	"tenant" text NOT NULL,
	"id" text NOT NULL,
	"type" text NOT NULL,
	"key" text,
	"subject" text,
	"time" timestamp(6) with time zone NOT NULL,
	"score" double precision,
	"seq" bigint NOT NULL,
	"data" jsonb NOT NULL,
	CONSTRAINT "anomalies_pkey" PRIMARY KEY("tenant","id")
);
--> statement-breakpoint
CREATE TABLE "window_results" (
	"tenant" text NOT NULL,
	"pipeline" text NOT NULL,
	"key" text NOT NULL,
	"window_start" timestamp(6) with time zone NOT NULL,
	"window_end" timestamp(6) with time zone NOT NULL,
	"final" boolean NOT NULL,
	"seq" bigint NOT NULL,
	"event_id" text NOT NULL,
	"data" jsonb NOT NULL,
	CONSTRAINT "window_results_pkey" PRIMARY KEY("tenant","pipeline","key","window_start","window_end")
);
--> statement-breakpoint
CREATE INDEX "alerts_tenant_time_id_idx" ON "alerts" USING btree ("tenant","time","id");--> statement-breakpoint
CREATE INDEX "alerts_tenant_key_time_idx" ON "alerts" USING btree ("tenant","key","time") WHERE "alerts"."key" is not null;--> statement-breakpoint
CREATE INDEX "anomalies_tenant_time_id_idx" ON "anomalies" USING btree ("tenant","time","id");--> statement-breakpoint
CREATE INDEX "anomalies_tenant_key_time_idx" ON "anomalies" USING btree ("tenant","key","time") WHERE "anomalies"."key" is not null;--> statement-breakpoint
CREATE INDEX "window_results_tenant_pipeline_start_idx" ON "window_results" USING btree ("tenant","pipeline","window_start");