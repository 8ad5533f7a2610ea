-- adminstats schema v7: user-days committed but not yet folded into `user_day`.
-- Each row is one committed group's user-days, folded and encoded (see `log` in sqlite.rs); the
-- writer folds them into `user_day` (and `dept_day`) at most half a second later, in one
-- transaction that also deletes them. A store opened after a crash folds in what is left first.
CREATE TABLE user_day_log (
    seq  INTEGER PRIMARY KEY,
    body BLOB NOT NULL
) STRICT;
