-- What the verdict's revision= matches, and which runtime replica ran the run (fleet mode).
ALTER TABLE runs ADD COLUMN revision text NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN replica text NOT NULL DEFAULT '';
