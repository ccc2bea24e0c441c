CREATE TABLE "cold_checkpoints" (
	"projection" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cold_columns" (
	"projection" text NOT NULL,
	"tenant" text NOT NULL,
	"type" text NOT NULL,
	"name" text NOT NULL,
	"field" text NOT NULL,
	"column_type" text NOT NULL,
	"first_seq" bigint NOT NULL,
	CONSTRAINT "cold_columns_pkey" PRIMARY KEY("projection","tenant","type","name")
);
--> statement-breakpoint
CREATE TABLE "cold_objects" (
	"projection" text NOT NULL,
	"key" text NOT NULL,
	"tenant" text NOT NULL,
	"type" text NOT NULL,
	"date" date NOT NULL,
	"origin" text NOT NULL,
	"window_start" bigint,
	"window_end" bigint,
	"seq_min" bigint NOT NULL,
	"seq_max" bigint NOT NULL,
	"time_min" timestamp(6) with time zone NOT NULL,
	"time_max" timestamp(6) with time zone NOT NULL,
	"row_count" integer NOT NULL,
	"byte_size" bigint NOT NULL,
	"sha256" text NOT NULL,
	"columns" jsonb NOT NULL,
	"format_version" integer NOT NULL,
	"written_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cold_objects_pkey" PRIMARY KEY("projection","key")
);
--> statement-breakpoint
CREATE INDEX "cold_objects_partition_idx" ON "cold_objects" USING btree ("projection","tenant","type","date");--> statement-breakpoint
CREATE INDEX "cold_objects_tenant_date_idx" ON "cold_objects" USING btree ("projection","tenant","date");--> statement-breakpoint
CREATE INDEX "cold_objects_window_idx" ON "cold_objects" USING btree ("projection","window_start");--> statement-breakpoint
CREATE INDEX "cold_objects_seq_idx" ON "cold_objects" USING btree ("projection","seq_min");