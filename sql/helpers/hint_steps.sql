-- hint_steps(statement, rule): the statements of the hint zdm.lint gives for `rule` (its first finding
-- of that rule), in order, for psql's \gexec to run one by one. A hint's first line is prose; its
-- statements end in ";" at a line's end (a plpgsql body or a one-line transaction stays one step).
CREATE FUNCTION hint_steps(statement text, rule text) RETURNS SETOF text LANGUAGE sql AS $$
  SELECT btrim(s.step, E' \n;')
    FROM (SELECT l.hint FROM zdm.lint(statement) AS l WHERE l.rule = hint_steps.rule LIMIT 1) AS f,
         regexp_split_to_table(substr(f.hint, strpos(f.hint, E'\n') + 1), E';\n') WITH ORDINALITY AS s(step, n)
   WHERE btrim(s.step, E' \n;') <> ''
   ORDER BY s.n $$;
