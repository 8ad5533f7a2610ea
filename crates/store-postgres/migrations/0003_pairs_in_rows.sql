-- adminstats on PostgreSQL, schema v3: a user-day's distinct `os,client` pairs live in its row.
--
-- They had a table of their own, `user_day_os`, one row per pair with an index as large as its
-- rows: a listing page paid one B-tree descent per active user on it to read them (more than its
-- range scan of `user_day`), and ingestion wrote a second table. Now `user_day` carries them,
-- sorted; a row without any has the empty array.

ALTER TABLE user_day ADD COLUMN os_pairs text[] NOT NULL DEFAULT '{}';

UPDATE user_day u SET os_pairs = p.pairs
FROM (SELECT tenant, day, open_id, array_agg(pair ORDER BY pair) AS pairs
      FROM user_day_os GROUP BY tenant, day, open_id) p
WHERE u.tenant = p.tenant AND u.day = p.day AND u.open_id = p.open_id;

DROP TABLE user_day_os;

-- Rows that every batch updates in place (a user's active-day bits, a department's sums) leave
-- room in their pages for the new version, so that an update stays on its page and adds no index
-- entry (a HOT update). Applies to pages written from now on.
ALTER TABLE user_active SET (fillfactor = 50);
ALTER TABLE dept_day SET (fillfactor = 50);
ALTER TABLE tenant_day SET (fillfactor = 50);
