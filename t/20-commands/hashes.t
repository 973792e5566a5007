# Hash commands through the generated methods (and the hand-written
# `hgetall`), under RESP2 and RESP3: the values they return and the fields
# they leave - HSET/HSETNX/HMSET, HGET/HMGET, HGETALL as a hash reference
# under both protocols, HDEL/HEXISTS/HLEN/HKEYS/HVALS/HSTRLEN,
# HINCRBY/HINCRBYFLOAT, HRANDFIELD (whose WITHVALUES reply is pairs under
# RESP3 and a flat list under RESP2), HSCAN - and that error replies
# (WRONGTYPE, ERR) fail the future with an Error::Redis object while the
# client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('hashes');

        subtest 'HSET, HGET, HMGET, HGETALL' => sub {
            my $k = "$base:user";
            is( $redis->hgetall($k)->get,        {},    'HGETALL of a missing key: {}' );
            is( $redis->hget( $k, 'name' )->get, undef, 'HGET of a missing key: undef' );
            is( $redis->hset( $k, name => 'Ada', lang => 'perl' )->get, 2, 'HSET: 2 new fields' );
            is( $redis->hset( $k, lang => 'rust', year => 1815 )->get,
                1, 'HSET: counts only new fields' );
            is( $redis->hget( $k, 'name' )->get, 'Ada',  'HGET' );
            is( $redis->hget( $k, 'lang' )->get, 'rust', 'HGET: the overwritten field' );
            is( $redis->hget( $k, 'nope' )->get, undef,  'HGET of a missing field: undef' );
            is(
                $redis->hmget( $k, qw(year nope name) )->get,
                [ '1815', undef, 'Ada' ],
                'HMGET: in order, undef for a missing field'
            );
            is(
                $redis->hgetall($k)->get,
                { name => 'Ada', lang => 'rust', year => '1815' },
                'HGETALL: a hash reference'
            );
            is( $redis->hmset( $k, city => 'London', name => 'Ada L.' )->get, 'OK', 'HMSET: OK' );
            is(
                $redis->hgetall($k)->get,
                { name => 'Ada L.', lang => 'rust', year => '1815', city => 'London' },
                'HGETALL after HMSET'
            );
            my $bin = "\0\xff\r\n";
            is( $redis->hset( $k, $bin => $bin, empty => '' )->get, 2, 'binary and empty' );
            is( $redis->hget( $k, $bin )->get,    $bin, 'a binary field and value round-trip' );
            is( $redis->hget( $k, 'empty' )->get, '',   'an empty value is not undef' );
            is( $redis->hgetall($k)->get->{$bin}, $bin, 'in HGETALL too' );
            $redis->del($k)->get;
        };

        subtest 'HSETNX, HDEL, HEXISTS, HLEN, HKEYS, HVALS, HSTRLEN' => sub {
            my $k = "$base:fields";
            is( $redis->hsetnx( $k, a => 'one' )->get, 1, 'HSETNX of a new field: 1' );
            is( $redis->hsetnx( $k, a => 'two' )->get, 0, 'HSETNX of an existing field: 0' );
            is( $redis->hget( $k, 'a' )->get, 'one', '... the value unchanged' );
            $redis->hset( $k, b => 'bee', c => 'sea' )->get;
            is( $redis->hlen($k)->get,                3, 'HLEN' );
            is( $redis->hexists( $k, 'b' )->get,      1, 'HEXISTS: 1' );
            is( $redis->hexists( $k, 'z' )->get,      0, 'HEXISTS of a missing field: 0' );
            is( $redis->hstrlen( $k, 'c' )->get,      3, 'HSTRLEN' );
            is( $redis->hstrlen( $k, 'z' )->get,      0, 'HSTRLEN of a missing field: 0' );
            is( [ sort @{ $redis->hkeys($k)->get } ], [qw(a b c)],       'HKEYS' );
            is( [ sort @{ $redis->hvals($k)->get } ], [qw(bee one sea)], 'HVALS' );
            is( $redis->hdel( $k, qw(a z) )->get,     1, 'HDEL: counts removed fields' );
            is( $redis->hgetall($k)->get,             { b => 'bee', c => 'sea' }, 'left' );
            is( $redis->hdel( $k, qw(b c) )->get,     2,                          'HDEL the rest' );
            is( $redis->exists($k)->get,              0,  'the empty hash is gone' );
            is( $redis->hlen($k)->get,                0,  'HLEN of a missing key: 0' );
            is( $redis->hkeys($k)->get,               [], 'HKEYS of a missing key: []' );
        };

        subtest 'HINCRBY, HINCRBYFLOAT' => sub {
            my $k = "$base:counters";
            is( $redis->hincrby( $k, n => 5 )->get,  5,  'HINCRBY a missing field' );
            is( $redis->hincrby( $k, n => -8 )->get, -3, 'HINCRBY a negative amount' );
            is( $redis->hget( $k, 'n' )->get, '-3', 'stored' );
            $redis->hset( $k, big => '9223372036854775806' )->get;
            is( $redis->hincrby( $k, big => 1 )->get, '9223372036854775807', 'up to 2**63-1' );
            FIORTest::redis_error_ok( $redis, $redis->hincrby( $k, big => 1 ),
                'ERR', 'HINCRBY overflow' );

            is( $redis->hincrbyfloat( $k, f => '10.5' )->get,  '10.5',   'HINCRBYFLOAT new' );
            is( $redis->hincrbyfloat( $k, f => '0.25' )->get,  '10.75',  '+ 0.25' );
            is( $redis->hincrbyfloat( $k, f => '-11' )->get,   '-0.25',  '- 11' );
            is( $redis->hincrbyfloat( $k, f => '2.5e2' )->get, '249.75', 'exponent notation' );
            is( $redis->hincrbyfloat( $k, n => '1.5' )->get,   '-1.5',   'of an integer field' );
            $redis->hset( $k, g => '10.50' )->get;
            is( $redis->hincrbyfloat( $k, g => '0.1' )->get, '10.6',   '10.50 + 0.1' );
            is( $redis->hget( $k, 'f' )->get,                '249.75', 'the value stored' );

            my $err = FIORTest::redis_error_ok( $redis, $redis->hincrby( $k, f => 1 ),
                'ERR', 'HINCRBY of a float field' );
            like( $err->message, qr/not an integer/, '... says not an integer' );
            $redis->hset( $k, word => 'abc' )->get;
            FIORTest::redis_error_ok( $redis, $redis->hincrbyfloat( $k, word => 1 ),
                'ERR', 'HINCRBYFLOAT of a word' );
            is( $redis->hget( $k, 'word' )->get, 'abc', 'unchanged' );
            $redis->del($k)->get;
        };

        subtest 'HRANDFIELD' => sub {
            my $k    = "$base:rand";
            my %hash = ( a => 1, b => 2, c => 3 );
            $redis->hset( $k, %hash )->get;
            like( $redis->hrandfield($k)->get, qr/^[abc]$/, 'one field' );
            my $two = $redis->hrandfield( $k, 2 )->get;
            is( scalar @$two, 2, 'COUNT 2: two fields' );
            isnt( $two->[0], $two->[1], '... distinct' );
            is( [ sort @{ $redis->hrandfield( $k, 10 )->get } ],
                [qw(a b c)], 'COUNT more than there is: each once' );
            my $rep = $redis->hrandfield( $k, -7 )->get;
            is( scalar @$rep, 7, 'a negative COUNT: that many, repeats allowed' );
            ok( !( grep { !/^[abc]$/ } @$rep ), '... all fields of the hash' );

            my $with = $redis->hrandfield( $k, 3, 'WITHVALUES' )->get;
            if ( $protocol == 3 ) {
                is( scalar @$with,          3,      'WITHVALUES: three pairs' );
                is( { map { @$_ } @$with }, \%hash, '... [field, value] each' );
            }
            else {
                is( scalar @$with, 6,      'WITHVALUES: a flat list' );
                is( {@$with},      \%hash, '... field, value, field, value' );
            }
            is( $redis->hrandfield("$k:missing")->get,      undef, 'of a missing key: undef' );
            is( $redis->hrandfield( "$k:missing", 2 )->get, [],    'COUNT of a missing key: []' );
            $redis->del($k)->get;
        };

        subtest 'HSCAN' => sub {
            my $k      = "$base:scan";
            my %fields = map { ( "f$_" => "v$_" ) } 1 .. 1000;    # past listpack size
            is( $redis->hset( $k, %fields )->get, 1000, 'HSET of 1000 fields' );
            my ( $cursor, $rounds, %seen ) = ( 0, 0 );
            do {
                my $reply = $redis->hscan( $k, $cursor, 'COUNT', 50 )->get;
                ( $cursor, my $pairs ) = @$reply;
                is( scalar(@$pairs) % 2, 0, 'HSCAN: field, value pairs' ) unless $rounds++;
                %seen = ( %seen, @$pairs );
            } while ( $cursor ne '0' && $rounds < 100_000 );
            is( \%seen, \%fields, 'HSCAN visits every field with its value' );
            ( $cursor, $rounds, %seen ) = ( 0, 0 );
            do {
                my $reply = $redis->hscan( $k, $cursor, 'MATCH', 'f1?', 'COUNT', 100 )->get;
                ( $cursor, my $pairs ) = @$reply;
                %seen = ( %seen, @$pairs );
            } while ( $cursor ne '0' && ++$rounds < 100_000 );
            is( \%seen, { map { ( "f$_" => "v$_" ) } 10 .. 19 }, 'HSCAN MATCH f1?' );
            $redis->del($k)->get;
        };

        subtest 'WRONGTYPE' => sub {
            my $s = "$base:string";
            $redis->set( $s, 'v' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->hset( $s, f => 'v' ),
                'WRONGTYPE', 'HSET on a string' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->hgetall($s), 'WRONGTYPE',
                'HGETALL of a string' );
            FIORTest::redis_error_ok(
                $redis,      $redis->hincrbyfloat( $s, f => 1 ),
                'WRONGTYPE', 'HINCRBYFLOAT on a string'
            );
            is( $redis->get($s)->get,                   'v', 'the string is untouched' );
            is( $redis->hset( "$s:h", f => 'ok' )->get, 1,   'hash commands still work' );
            $redis->del( $s, "$s:h" )->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
