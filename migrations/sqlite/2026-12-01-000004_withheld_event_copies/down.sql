ALTER TABLE events DROP COLUMN copy_of;
