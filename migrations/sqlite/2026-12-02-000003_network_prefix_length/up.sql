-- The prefix length of each registered block (IPv4 as IPv4-mapped IPv6, so /24 is 120). The
-- few lengths in use bound the blocks that can contain an advisory's block to one exact
-- index lookup per length. The index is refilled from the entities at the next start.
DELETE FROM entity_networks;
DELETE FROM counters WHERE name = 'entity_networks_indexed';
ALTER TABLE entity_networks ADD COLUMN prefix_len INTEGER NOT NULL DEFAULT 0;
CREATE INDEX entity_networks_prefix_len ON entity_networks (prefix_len);
