-- Mizu's ivrauthentication (seed 003) per access number: how a caller
-- proves who they are, 0 = no, 1 = A number or PIN (the default, what
-- callbackd did before), 2 = only A number, 3 = only PIN, 4 = A number and
-- PIN. Existing numbers get 1 and behave as before.

-- +goose Up
ALTER TABLE access_numbers
    ADD COLUMN ivrauthentication INT NOT NULL DEFAULT 1 COMMENT 'Mizu ivrauthentication: 0 no, 1 A number or PIN, 2 only A number, 3 only PIN, 4 A number and PIN',
    ADD CONSTRAINT access_numbers_ivrauthentication CHECK (ivrauthentication BETWEEN 0 AND 4);

-- +goose Down
ALTER TABLE access_numbers
    DROP CONSTRAINT access_numbers_ivrauthentication,
    DROP COLUMN ivrauthentication;
