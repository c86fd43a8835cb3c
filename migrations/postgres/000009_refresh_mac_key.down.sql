DROP TABLE refresh_mac_keys;
