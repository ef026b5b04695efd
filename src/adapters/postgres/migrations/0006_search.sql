-- Placeholder for the search migration (another branch writes 0006_search.sql): the
-- migrations must be numbered 1, 2, 3..., and 0007_secrets follows it. Replaced at merge.
SELECT 1;
