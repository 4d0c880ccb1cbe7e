-- The CSAF provider's documents, rendered once per published revision and kept with their
-- hashes and detached signature, so listings and downloads read stored rows instead of
-- rendering every document on every request (CSAF 2.0 §7.1.11–§7.1.19). A revision's
-- document never changes once stored; the provider serves the row whose revision is the
-- advisory's current one.
CREATE TABLE csaf_documents (
    advisory_id TEXT NOT NULL REFERENCES advisories (id),
    revision BIGINT NOT NULL,
    -- The TLP 2.0 label of this revision, and its CSAF directory (white, green, amber, red).
    tlp TEXT NOT NULL,
    directory TEXT NOT NULL,
    -- Where it lives: {directory}/{year}/{file}.
    year TEXT NOT NULL,
    file TEXT NOT NULL,
    tracking_id TEXT NOT NULL,
    title TEXT NOT NULL,
    -- initial_release_date and current_release_date of the document.
    published_at TIMESTAMP NOT NULL,
    modified_at TIMESTAMP NOT NULL,
    -- The provider address the document names as its canonical URL.
    public_url TEXT NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    sha512 TEXT NOT NULL,
    signature TEXT NOT NULL,
    stored_at TIMESTAMP NOT NULL,
    PRIMARY KEY (advisory_id, revision)
);
CREATE INDEX csaf_documents_path ON csaf_documents (directory, year, file);

-- A counter that moves whenever an advisory's revision, status or TLP changes (or it is
-- deleted), in the same transaction: the provider keeps a listing until it moves.
CREATE TABLE csaf_generation (
    id INTEGER PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO csaf_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER csaf_generation_update AFTER UPDATE ON advisories
WHEN OLD.revision IS NOT NEW.revision OR OLD.status IS NOT NEW.status OR OLD.tlp IS NOT NEW.tlp
BEGIN
    UPDATE csaf_generation SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER csaf_generation_delete AFTER DELETE ON advisories
BEGIN
    UPDATE csaf_generation SET generation = generation + 1 WHERE id = 1;
END;
