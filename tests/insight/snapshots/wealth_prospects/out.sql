SELECT
  "t10"."customer_id"
FROM (
  SELECT
    *
  FROM (
    SELECT
      *
    FROM "customers" AS "t0"
    WHERE
      STARTS_WITH("t0"."org_path", '/HO/B07/')
  ) AS "t3"
  WHERE
    COALESCE("t3"."kyc_risk_level" >= 3, FALSE)
    AND (
      "t3"."customer_id" IN (
        SELECT
          "t7"."customer_id"
        FROM (
          SELECT
            "t4"."customer_id",
            SUM("t4"."amount") AS "v"
          FROM (
            SELECT
              *
            FROM "transactions" AS "t1"
            WHERE
              "t1"."ts" >= MAKE_TIMESTAMP(2025, 5, 31, 0, 0, 0.0)
              AND "t1"."ts" < MAKE_TIMESTAMP(2025, 6, 30, 0, 0, 0.0)
              AND "t1"."direction" = 'out'
          ) AS "t4"
          GROUP BY
            1
        ) AS "t7"
        WHERE
          "t7"."v" > 5000.0
      )
      OR (
        "t3"."customer_id" IN (
          SELECT
            "t6"."customer_id"
          FROM (
            SELECT
              "t5"."customer_id",
              COUNT(*) AS "v"
            FROM (
              SELECT
                *
              FROM "events" AS "t2"
              WHERE
                "t2"."ts" >= MAKE_TIMESTAMP(2025, 6, 23, 0, 0, 0.0)
                AND "t2"."ts" < MAKE_TIMESTAMP(2025, 6, 30, 0, 0, 0.0)
                AND "t2"."event" = 'fund_detail_view'
                AND "t2"."customer_id" IS NOT NULL
            ) AS "t5"
            GROUP BY
              1
          ) AS "t6"
          WHERE
            "t6"."v" >= 2
        )
        AND NOT (
          COALESCE("t3"."dnd" = TRUE, FALSE)
        )
      )
    )
) AS "t10"
