# Keyspace commands through the generated methods, under RESP2 and RESP3:
# expiry (EXPIRE with NX/XX/GT/LT, PEXPIRE, EXPIREAT/PEXPIREAT,
# EXPIRETIME/PEXPIRETIME, TTL/PTTL, PERSIST, and one key seen to expire),
# EXISTS, TYPE, RENAME/RENAMENX, COPY, DUMP/RESTORE of binary payloads,
# OBJECT sub-commands (and CONFIG GET, a map under RESP3), TOUCH, UNLINK,
# DEL, KEYS and SCAN: the values they return and the state they leave; error
# replies (WRONGTYPE, BUSYKEY, ERR) fail the future with an Error::Redis
# object and the client keeps working.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Time::HiRes ();
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

sub in_range {
    my ( $got, $min, $max, $name ) = @_;
    ok(
        defined $got && $got >= $min && $got <= $max,
        "$name (" . ( $got // 'undef' ) . " in $min..$max)"
    );
}

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('keys');

        subtest 'EXPIRE, TTL, PERSIST' => sub {
            my $k = "$base:expire";
            is( $redis->ttl($k)->get,           -2, 'TTL of a missing key: -2' );
            is( $redis->pttl($k)->get,          -2, 'PTTL of a missing key: -2' );
            is( $redis->expire( $k, 100 )->get, 0,  'EXPIRE of a missing key: 0' );
            $redis->set( $k, 'v' )->get;
            is( $redis->ttl($k)->get,           -1, 'TTL without expiry: -1' );
            is( $redis->persist($k)->get,       0,  'PERSIST without expiry: 0' );
            is( $redis->expire( $k, 100 )->get, 1,  'EXPIRE: 1' );
            in_range( $redis->ttl($k)->get,  1,    100,     'TTL after EXPIRE 100' );
            in_range( $redis->pttl($k)->get, 1000, 100_000, 'PTTL after EXPIRE 100' );
            is( $redis->persist($k)->get, 1,   'PERSIST: 1' );
            is( $redis->ttl($k)->get,     -1,  'no TTL after PERSIST' );
            is( $redis->get($k)->get,     'v', 'the value is still there' );

            is( $redis->expire( $k, 100, 'XX' )->get, 0,  'EXPIRE XX without a TTL: 0' );
            is( $redis->ttl($k)->get,                 -1, '... none set' );
            is( $redis->expire( $k, 100, 'NX' )->get, 1,  'EXPIRE NX without a TTL: 1' );
            is( $redis->expire( $k, 500, 'NX' )->get, 0,  'EXPIRE NX with a TTL: 0' );
            in_range( $redis->ttl($k)->get, 1, 100, '... the TTL unchanged' );
            is( $redis->expire( $k, 50,   'GT' )->get, 0, 'EXPIRE GT with a shorter TTL: 0' );
            is( $redis->expire( $k, 1000, 'GT' )->get, 1, 'EXPIRE GT with a longer TTL: 1' );
            in_range( $redis->ttl($k)->get, 101, 1000, '... the TTL raised' );
            is( $redis->expire( $k, 2000, 'LT' )->get, 0, 'EXPIRE LT with a longer TTL: 0' );
            is( $redis->expire( $k, 200,  'LT' )->get, 1, 'EXPIRE LT with a shorter TTL: 1' );
            in_range( $redis->ttl($k)->get, 1, 200, '... the TTL lowered' );
            is( $redis->expire( $k, 100, 'XX' )->get, 1, 'EXPIRE XX with a TTL: 1' );

            is( $redis->set( $k, 'w' )->get,   'OK', 'SET' );
            is( $redis->ttl($k)->get,          -1,   'SET dropped the TTL' );
            is( $redis->expire( $k, -1 )->get, 1,    'EXPIRE with a negative time: 1' );
            is( $redis->exists($k)->get,       0,    '... deletes the key at once' );
        };

        subtest 'PEXPIRE, EXPIREAT, PEXPIREAT, EXPIRETIME' => sub {
            my $k = "$base:expireat";
            $redis->set( $k, 'v' )->get;
            is( $redis->expiretime($k)->get,           -1, 'EXPIRETIME without expiry: -1' );
            is( $redis->pexpiretime($k)->get,          -1, 'PEXPIRETIME without expiry: -1' );
            is( $redis->expiretime("$k:missing")->get, -2, 'EXPIRETIME of a missing key: -2' );
            is( $redis->pexpire( $k, 100_000 )->get,   1,  'PEXPIRE: 1' );
            in_range( $redis->pttl($k)->get, 1000, 100_000, 'PTTL after PEXPIRE 100000' );
            in_range( $redis->ttl($k)->get,  1,    100,     'TTL after PEXPIRE 100000' );

            my $time = $redis->time->get;
            like( $time, { seconds => qr/^\d+$/, microseconds => qr/^\d+$/ }, 'TIME: a hash' );
            my $now = $time->{seconds};
            is( $redis->expireat( $k, $now + 100 )->get, 1,          'EXPIREAT: 1' );
            is( $redis->expiretime($k)->get,             $now + 100, 'EXPIRETIME: that time' );
            is( $redis->pexpiretime($k)->get, ( $now + 100 ) * 1000, 'PEXPIRETIME: in ms' );
            in_range( $redis->ttl($k)->get, 1, 100, 'TTL after EXPIREAT now+100' );

            my $at_ms = ( $now + 300 ) * 1000 + 250;
            is( $redis->pexpireat( $k, $at_ms )->get, 1,          'PEXPIREAT: 1' );
            is( $redis->pexpiretime($k)->get,         $at_ms,     'PEXPIRETIME: to the ms' );
            is( $redis->expiretime($k)->get,          $now + 300, 'EXPIRETIME: the second' );
            is( $redis->expireat( $k, $now + 50, 'GT' )->get, 0,  'EXPIREAT GT earlier: 0' );
            is( $redis->expiretime($k)->get,                  $now + 300, '... unchanged' );

            is( $redis->expireat( $k, $now - 10 )->get, 1,     'EXPIREAT in the past: 1' );
            is( $redis->exists($k)->get,                0,     '... deletes the key at once' );
            is( $redis->get($k)->get,                   undef, '... GET: undef' );
        };

        subtest 'a key with PEXPIRE 50 goes away' => sub {
            my $k = "$base:short";
            $redis->set( $k, 'v' )->get;
            is( $redis->pexpire( $k, 50 )->get, 1, 'PEXPIRE 50: 1' );
            my $deadline = Time::HiRes::time() + 5;
            my $exists   = 1;
            while ( Time::HiRes::time() < $deadline ) {
                $exists = $redis->exists($k)->get;
                last unless $exists;
                $loop->delay_future( after => 0.02 )->get;
            }
            is( $exists,              0,     'gone within a generous deadline' );
            is( $redis->get($k)->get, undef, 'GET: undef' );
            is( $redis->ttl($k)->get, -2,    'TTL: -2' );
        };

        subtest 'EXISTS, TYPE, DEL, UNLINK, TOUCH' => sub {
            my %k = map { $_ => "$base:type:$_" } qw(string list set zset hash stream);
            $redis->set( $k{string}, 's' )->get;
            $redis->rpush( $k{list}, 'l' )->get;
            $redis->sadd( $k{set}, 'm' )->get;
            $redis->zadd( $k{zset}, 1, 'm' )->get;
            $redis->hset( $k{hash}, f => 'v' )->get;
            $redis->xadd( $k{stream}, '1-1', f => 'v' )->get;
            for my $type ( sort keys %k ) {
                is( $redis->type( $k{$type} )->get, $type, "TYPE: $type" );
            }
            is( $redis->type("$base:type:missing")->get, 'none', 'TYPE of a missing key: none' );

            is( $redis->exists( $k{string} )->get, 1, 'EXISTS one key' );
            is( $redis->exists( $k{string}, $k{list}, "$base:type:missing", $k{string} )->get,
                3, 'EXISTS counts each name given, repeats too' );
            is( $redis->touch( $k{string}, $k{hash}, "$base:type:missing" )->get,
                2, 'TOUCH: the keys that exist' );
            is( $redis->del( $k{string}, "$base:type:missing" )->get, 1, 'DEL counts deleted' );
            is( $redis->unlink( $k{list}, $k{set}, "$base:type:missing" )->get,
                2, 'UNLINK counts deleted' );
            is( $redis->exists( $k{string}, $k{list}, $k{set} )->get, 0, 'all three gone' );
            is( $redis->del( @k{qw(zset hash stream)} )->get,         3, 'DEL the rest' );
        };

        subtest 'RENAME, RENAMENX' => sub {
            my ( $a, $b, $c ) = map { "$base:rename:$_" } qw(a b c);
            $redis->set( $a, 'va', ex => 100 )->get;
            is( $redis->rename( $a, $b )->get, 'OK', 'RENAME: OK' );
            is( $redis->exists($a)->get,       0,    'the old name is gone' );
            is( $redis->get($b)->get,          'va', 'the value is under the new name' );
            in_range( $redis->ttl($b)->get, 1, 100, 'the TTL moved with it' );
            is( $redis->rename( $b, $b )->get, 'OK', 'RENAME onto itself: OK' );
            is( $redis->get($b)->get,          'va', '... the value unchanged' );

            $redis->set( $c, 'vc' )->get;
            is( $redis->renamenx( $b, $c )->get, 0,    'RENAMENX onto an existing key: 0' );
            is( $redis->get($b)->get,            'va', '... the source stays' );
            is( $redis->get($c)->get,            'vc', '... the target unchanged' );
            is( $redis->renamenx( $b, $a )->get, 1,    'RENAMENX to a free name: 1' );
            is( $redis->get($a)->get,            'va', '... moved' );
            is( $redis->rename( $a, $c )->get,   'OK', 'RENAME onto an existing key' );
            is( $redis->get($c)->get,            'va', '... overwrites it' );

            my $err
                = FIORTest::redis_error_ok( $redis, $redis->rename( "$base:rename:missing", $a ),
                'ERR', 'RENAME of a missing key' );
            like( $err->message, qr/no such key/, '... says no such key' );
            $redis->del($c)->get;
        };

        subtest 'COPY' => sub {
            my ( $src, $dst ) = ( "$base:copy:src", "$base:copy:dst" );
            $redis->rpush( $src, qw(a b c) )->get;
            $redis->expire( $src, 100 )->get;
            is( $redis->copy( $src, $dst )->get,    1,           'COPY to a free name: 1' );
            is( $redis->lrange( $dst, 0, -1 )->get, [qw(a b c)], 'the copy has the elements' );
            in_range( $redis->ttl($dst)->get, 1, 100, 'and the TTL' );
            $redis->rpush( $dst, 'd' )->get;
            is( $redis->lrange( $src, 0, -1 )->get, [qw(a b c)], 'the copy is independent' );

            $redis->set( "$dst:str", 'x' )->get;
            is( $redis->copy( $src, "$dst:str" )->get, 0,   'COPY onto an existing key: 0' );
            is( $redis->get("$dst:str")->get,          'x', '... unchanged' );
            is( $redis->copy( $src, "$dst:str", 'REPLACE' )->get, 1,      'COPY REPLACE: 1' );
            is( $redis->type("$dst:str")->get,                    'list', '... now the list' );
            is( $redis->copy( "$base:copy:missing", $dst )->get,  0, 'COPY of a missing key: 0' );
            is( $redis->del( $src, $dst, "$dst:str" )->get,       3, 'DEL' );
        };

        subtest 'DUMP and RESTORE' => sub {
            my ( $src, $dst ) = ( "$base:dump:src", "$base:dump:dst" );
            my $value = join '', map { chr } 0 .. 255;
            $redis->set( $src, $value )->get;
            my $payload = $redis->dump($src)->get;
            ok( defined $payload && length $payload > 256, 'DUMP: a payload' );
            ok( !utf8::is_utf8($payload),                  '... of bytes' );
            is( $redis->dump("$base:dump:missing")->get, undef, 'DUMP of a missing key: undef' );

            is( $redis->restore( $dst, 0, $payload )->get, 'OK',   'RESTORE: OK' );
            is( $redis->get($dst)->get,                    $value, 'the same 256 bytes' );
            is( $redis->ttl($dst)->get,                    -1,     'TTL 0: no expiry' );

            FIORTest::redis_error_ok(
                $redis,    $redis->restore( $dst, 0, $payload ),
                'BUSYKEY', 'RESTORE onto an existing key'
            );

            $redis->rpush( "$src:list", 'x', "\0", 'z' )->get;
            my $list_payload = $redis->dump("$src:list")->get;
            is( $redis->restore( $dst, 100_000, $list_payload, 'REPLACE' )->get,
                'OK', 'RESTORE REPLACE with a TTL' );
            is( $redis->lrange( $dst, 0, -1 )->get, [ 'x', "\0", 'z' ], 'the list restored' );
            in_range( $redis->pttl($dst)->get, 1000, 100_000, 'with its TTL' );

            FIORTest::redis_error_ok( $redis, $redis->restore( "$dst:bad", 0, "not a payload" ),
                'ERR', 'RESTORE of a bad payload' );
            is( $redis->exists("$dst:bad")->get,             0, '... creates nothing' );
            is( $redis->del( $src, "$src:list", $dst )->get, 3, 'DEL' );
        };

        subtest 'OBJECT' => sub {
            my %k = map { $_ => "$base:object:$_" } qw(embstr int raw list hash set zset);
            $redis->set( $k{embstr}, 'short' )->get;
            $redis->set( $k{int},    12345 )->get;
            $redis->set( $k{raw},    'x' x 100 )->get;
            $redis->rpush( $k{list}, 1, 2 )->get;
            $redis->hset( $k{hash}, f => 'v' )->get;
            $redis->sadd( $k{set}, 1, 2, 3 )->get;
            $redis->zadd( $k{zset}, 1, 'm' )->get;

            is( $redis->object_encoding( $k{embstr} )->get, 'embstr', 'short string: embstr' );
            is( $redis->object_encoding( $k{int} )->get,    'int',    'integer: int' );
            is( $redis->object_encoding( $k{raw} )->get,    'raw',    'long string: raw' );
            like( $redis->object_encoding( $k{list} )->get,
                qr/^(?:quicklist|listpack)$/, 'list: quicklist or listpack' );
            is( $redis->object_encoding( $k{hash} )->get, 'listpack', 'small hash: listpack' );
            is( $redis->object_encoding( $k{set} )->get,  'intset',   'integer set: intset' );
            is( $redis->object_encoding( $k{zset} )->get, 'listpack', 'small zset: listpack' );
            is( $redis->object_encoding("$base:object:missing")->get,
                undef, 'of a missing key: undef' );
            is( $redis->object( 'ENCODING', $k{int} )->get,
                'int', 'the container method takes the sub-command' );

            is( $redis->object_refcount( $k{embstr} )->get, 1, 'REFCOUNT: 1' );
            in_range( $redis->object_idletime( $k{embstr} )->get, 0, 100, 'IDLETIME' );
            my $help = $redis->object_help->get;
            is( ref $help, 'ARRAY', 'HELP: an array of lines' );
            ok( ( grep { /^ENCODING <key>/ } @$help ), '... naming ENCODING' );

            # FREQ answers only under an LFU policy: ask the server which.
            my $conf = $redis->config_get('maxmemory-policy')->get;
            if ( $protocol == 3 ) {
                like( $conf, { 'maxmemory-policy' => qr/\S/ }, 'CONFIG GET: a map' );
            }
            else {
                like( $conf, [ 'maxmemory-policy', qr/\S/ ], 'CONFIG GET: a flat list' );
            }
            my $policy = { $protocol == 3 ? %$conf : @$conf }->{'maxmemory-policy'};
            if ( $policy =~ /lfu/ ) {
                in_range( $redis->object_freq( $k{embstr} )->get, 0, 255, "FREQ ($policy)" );
            }
            else {
                my $err = FIORTest::redis_error_ok( $redis, $redis->object_freq( $k{embstr} ),
                    'ERR', "FREQ under $policy" );
                like( $err->message, qr/LFU/, '... says LFU' );
            }
            is( $redis->del( values %k )->get, 7, 'DEL' );
        };

        subtest 'KEYS and SCAN' => sub {
            my @names = map { "$base:scan:$_" } 1 .. 25;
            $redis->mset( map { $_ => 'v' } @names )->get;
            is( [ sort @{ $redis->keys("$base:scan:*")->get } ], [ sort @names ], 'KEYS' );
            is(
                $redis->keys("$base:scan:1?")->get,
                bag {
                    item $_ for grep { /:1\d$/ } @names;
                    end
                },
                'KEYS with a ? pattern'
            );

            my ( $cursor, $rounds, %seen ) = ( 0, 0 );
            do {
                my $reply = $redis->scan( $cursor, 'MATCH', "$base:scan:*", 'COUNT', 100 )->get;
                is( scalar @$reply, 2, 'SCAN: [cursor, keys]' ) unless $rounds++;
                ( $cursor, my $keys ) = @$reply;
                $seen{$_}++ for @$keys;
            } while ( $cursor ne '0' && $rounds < 1_000_000 );
            is( [ sort keys %seen ],      [ sort @names ], 'SCAN with MATCH visits every key' );
            is( $redis->del(@names)->get, 25,              'DEL' );
        };

        subtest 'WRONGTYPE' => sub {
            my $h = "$base:wrong";
            $redis->hset( $h, a => 1 )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->sort($h), 'WRONGTYPE',
                'SORT of a hash' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            is( $redis->type($h)->get,          'hash', 'the key is untouched' );
            is( $redis->expire( $h, 100 )->get, 1,      'expiry works on any type' );
            $redis->del($h)->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
