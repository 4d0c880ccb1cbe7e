DROP TRIGGER csaf_generation_delete ON advisories;
DROP TRIGGER csaf_generation_update ON advisories;
DROP FUNCTION csaf_generation_bump();
DROP TABLE csaf_generation;
DROP TABLE csaf_documents;
