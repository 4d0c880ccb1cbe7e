DROP TRIGGER csaf_generation_delete;
DROP TRIGGER csaf_generation_update;
DROP TABLE csaf_generation;
DROP TABLE csaf_documents;
