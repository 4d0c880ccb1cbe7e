DROP TABLE cvd_messages;
DROP TABLE cvd_vendors;
DROP TABLE cvd_cases;
