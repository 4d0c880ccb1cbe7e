DROP INDEX entity_networks_prefix_len;
ALTER TABLE entity_networks DROP COLUMN prefix_len;
