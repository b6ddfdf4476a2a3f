/** Input-language tokens several targets' dictionaries share. */
export const YAML_TOKENS = [': ', '- ', '\n  ', '\n    - ', '"', "'", '{}', '[]', 'null', 'true', '~', '&a ', '*a', '!!str ', '<<: ', '#', '? ', '|\n', '0x', '1e309'];
export const CIDR_TOKENS = ['10.0.0.0/8', '0.0.0.0/0', '::/0', 'fd00::/64', '::ffff:10.0.0.1/128', '/33', '/129', '%eth0', '256.1.1.1/32'];
export const KEY = 'vfQY4oAbuC/Hb+FIGfvHVfDZLYKVl+wr/T4CNefRaV0=';
