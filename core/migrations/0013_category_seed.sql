-- What `siaga categories load` last wrote into a category. A reload updates a row that is still
-- as the seed left it and keeps one an admin has edited since (unless asked to replace it);
-- NULL for a category an admin made, which a load therefore never overwrites uncalled.
ALTER TABLE complaint_category ADD COLUMN seeded jsonb;
