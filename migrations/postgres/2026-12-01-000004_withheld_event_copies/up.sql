-- An event whose content a TLP label keeps from some recipients is written twice: in full for
-- the recipients that may read it, and as a copy without the content for the others. The copy
-- names the full event here, so the national CSIRT's all-events view can leave it out.
ALTER TABLE events ADD COLUMN copy_of BIGINT;
