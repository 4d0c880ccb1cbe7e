DROP TABLE maturity_compliance;
DROP TABLE maturity_assessments;
