# Keys and hash fields are bytes too: names holding NUL, \xff, CR/LF, spaces,
# glob characters, RESP lookalikes, each of the 256 byte values and all of
# them at once work with SET/GET/EXISTS/DEL/RENAME, come back exactly from
# KEYS and SCAN MATCH (as byte strings), and work as hash fields. With the
# prefix option ("bin:\x00\xff:") the key the server stores is exactly
# prefix . key, as a client without a prefix sees it.
use Test2::V0;
use Test2::API qw(context);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $srv   = FIORTest::server('plain');
my $redis = Future::IO::Redis->new(%$srv);
$redis->connect->get;

# The unique part has no glob characters: "$base:*" matches only our keys.
my $base = FIORTest::unique_key('binkeys');
ok( $base !~ /[*?\[\]\\]/, 'the base name is a literal glob' );

my $all_bytes = join '', map { chr } 0 .. 255;
my @suffixes  = (
    "\x00",               "a\x00b", "\x00\x00",         "\xff", "\xff\xfe\x80", "\r\n", "x\r\ny",
    "\r\n\$3\r\nfoo\r\n", "*1\r\n\$4\r\nPING\r\n", ' ', 'a b',  "\t\x0b\x0c",
    '*?[]\\',             "\xc3\x28",              $all_bytes,
);
my @single_suffixes = map { chr } 0 .. 255;

sub distinct {
    my %seen;
    return grep { !$seen{$_}++ } @_;
}

# A list of byte strings equal to the one wanted, in any order.
sub same_bytes {
    my ( $got, $want, $name ) = @_;
    my $ctx = context();
    my @got = ref $got eq 'ARRAY' ? @$got : ();
    is( ref $got,                                               'ARRAY', "$name: an array" );
    is( [ grep { !defined || ref || utf8::is_utf8($_) } @got ], [],      "$name: byte strings" );
    is( FIORTest::hex_of( sort @got ), FIORTest::hex_of( sort @$want ), "$name: exactly the keys" );
    $ctx->release;
    return;
}

# Every key SCAN MATCH finds (SCAN may repeat a key: count each once).
sub scan_all {
    my ( $client, $pattern ) = @_;
    my ( $cursor, %seen )    = (0);
    do {
        my $reply = $client->scan( $cursor, 'MATCH', $pattern, 'COUNT', 1000 )->get;
        ( $cursor, my $batch ) = @$reply;
        $seen{$_}++ for @$batch;
    } while ( $cursor ne '0' );
    return [ keys %seen ];
}

my $pbase  = FIORTest::unique_key('binprefix');    # for the prefixed client
my @keys   = map { "$base:k:$_" } @suffixes;
my @single = map { "$base:b:$_" } @single_suffixes;
my @all    = ( @keys, @single );
is( scalar( () = distinct(@all) ), scalar @all, 'the test keys are distinct' );

subtest 'SET / GET / EXISTS with binary keys' => sub {

    # The value names its key: a key mixed up with another would show.
    my @set = $loop->await( Future->needs_all( map { $redis->set( $_, "v:$_" ) } @all ) )->get;
    is( \@set, [ ('OK') x @all ], 'every SET answered OK' );
    my @got = $loop->await( Future->needs_all( map { $redis->get($_) } @all ) )->get;
    is(
        FIORTest::hex_of(@got),
        FIORTest::hex_of( map { "v:$_" } @all ),
        'GET: each key has its own value'
    );
    is( $redis->exists(@all)->get,                   scalar @all, 'EXISTS counts them all' );
    is( $redis->exists("$base:k:\x00\x00\x00")->get, 0,           'three NULs: another key' );
    is( $redis->exists("$base:k:\x00")->get,         1,           'one NUL' );
    is( $redis->exists("$base:k:\x00 ")->get,        0,           'NUL and space: another key' );
    is( $redis->exists("$base:k:\r")->get,           0,           'CR alone: another key' );
    is( $redis->dbsize->get >= @all,                 T(),         'DBSIZE sees them' );
};

subtest 'KEYS and SCAN MATCH give them back exactly' => sub {
    same_bytes( $redis->keys("$base:*")->get,   \@all,    'KEYS' );
    same_bytes( $redis->keys("$base:k:*")->get, \@keys,   'KEYS, the named ones' );
    same_bytes( $redis->keys("$base:b:?")->get, \@single, 'KEYS with ?: each single byte' );
    same_bytes( scan_all( $redis, "$base:*" ),  \@all,    'SCAN MATCH' );

    # Glob characters in a pattern escaped with a backslash match themselves.
    same_bytes( $redis->keys("$base:k:\\*\\?\\[\\]\\\\")->get,
        ["$base:k:*?[]\\"], 'KEYS, escaped glob characters' );
    same_bytes(
        $redis->keys("$base:k:\x00*")->get,
        [ "$base:k:\x00", "$base:k:\x00\x00", $keys[-1] ],
        'KEYS with a NUL in the pattern'
    );
    same_bytes(
        $redis->keys("$base:k:\xff*")->get,
        [ "$base:k:\xff", "$base:k:\xff\xfe\x80" ],
        'KEYS with \xff in the pattern'
    );
};

subtest 'TYPE / STRLEN / GETRANGE on the key holding all 256 bytes' => sub {
    my $k = $keys[-1];
    is( $redis->type($k)->get,   'string',      'TYPE' );
    is( $redis->strlen($k)->get, length "v:$k", 'STRLEN' );
    is(
        unpack( 'H*', $redis->getrange( $k, -256, -1 )->get ),
        unpack( 'H*', $all_bytes ),
        'the value ends with the key bytes'
    );
};

subtest 'RENAME between binary keys' => sub {
    my $from = "$base:k:\x00";
    my $to   = "$base:r:\xff\x00\r\n";
    is( $redis->rename( $from, $to )->get,     'OK',                      'RENAME' );
    is( $redis->exists($from)->get,            0,                         'the old key is gone' );
    is( unpack( 'H*', $redis->get($to)->get ), unpack( 'H*', "v:$from" ), 'the value moved' );
    is( $redis->renamenx( $to, "$base:k:\xff" )->get, 0,    'RENAMENX onto an existing key: no' );
    is( $redis->rename( $to, $from )->get,            'OK', 'and back' );
    is( $redis->exists($to)->get,                     0,    'the new key is gone again' );
    same_bytes( $redis->keys("$base:r:*")->get, [], 'nothing left under r:' );
};

subtest 'DEL with binary keys' => sub {
    is( $redis->del( "$base:k:\x00", "$base:k:\x00\x00\x00" )->get, 1, 'DEL: only the one' );
    is( $redis->exists("$base:k:\x00\x00")->get,                    1, 'the longer NUL key stays' );
    is( $redis->del(@single)->get, 256, 'DEL every single-byte key' );
    same_bytes(
        $redis->keys("$base:*")->get,
        [ grep { $_ ne "$base:k:\x00" } @keys ],
        'the rest remain'
    );
    is( $redis->del(@keys)->get, @keys - 1, 'DEL the rest' );
    same_bytes( $redis->keys("$base:*")->get, [], 'none left' );
};

subtest 'binary hash fields' => sub {
    my $h      = "$base:hash";
    my @fields = ( @suffixes, map { "b$_" } @single_suffixes );
    is( $redis->hset( $h, map { ( $_ => "v:$_" ) } @fields )->get, scalar @fields, 'HSET' );
    my @got = $loop->await( Future->needs_all( map { $redis->hget( $h, $_ ) } @fields ) )->get;
    is(
        FIORTest::hex_of(@got),
        FIORTest::hex_of( map { "v:$_" } @fields ),
        'HGET: each field its own value'
    );
    same_bytes( $redis->hkeys($h)->get, \@fields, 'HKEYS' );

    my $all = $redis->hgetall($h)->get;
    is( [ grep { utf8::is_utf8($_) } keys %$all ], [], 'HGETALL: field names are bytes' );
    is(
        { map { unpack( 'H*', $_ ) => unpack( 'H*', $all->{$_} ) } keys %$all },
        { map { unpack( 'H*', $_ ) => unpack( 'H*', "v:$_" ) } @fields },
        'HGETALL: every field and value exact'
    );
    is( $redis->hexists( $h, "\x00" )->get,               1,           'HEXISTS NUL' );
    is( $redis->hexists( $h, "\x00\x00\x00" )->get,       0,           'HEXISTS three NULs' );
    is( $redis->hdel( $h, "\r\n", "\xff", "b\x00" )->get, 3,           'HDEL' );
    is( $redis->hlen($h)->get,                            @fields - 3, 'HLEN' );
    is( $redis->del($h)->get,                             1,           'DEL the hash' );
};

subtest 'prefix "bin:\x00\xff:"' => sub {
    my $prefix   = "bin:\x00\xff:";
    my $prefixed = Future::IO::Redis->new( %$srv, prefix => $prefix );
    $prefixed->connect->get;
    my @pkeys = ( ( map { "$pbase:k:$_" } @suffixes ), ( map { "$pbase:b:$_" } @single_suffixes ) );
    my @raw   = map { $prefix . $_ } @pkeys;
    is( scalar( () = distinct(@pkeys) ), scalar @pkeys, 'the test keys are distinct' );

    is( $prefixed->mset( map { ( $_ => "v:$_" ) } @pkeys )->get,
        'OK', 'MSET through the prefixed client' );
    same_bytes( $redis->keys("bin:\x00\xff:$pbase:*")->get,
        \@raw, 'the stored keys are prefix . key (KEYS, no prefix)' );
    same_bytes( scan_all( $redis, "bin:\x00\xff:$pbase:*" ), \@raw, 'and by SCAN' );
    is(
        FIORTest::hex_of( @{ $redis->mget(@raw)->get } ),
        FIORTest::hex_of( map { "v:$_" } @pkeys ),
        'read raw: each value under its prefixed key'
    );
    is( $redis->exists(@pkeys)->get, 0, 'the unprefixed names do not exist' );

    is(
        FIORTest::hex_of( @{ $prefixed->mget(@pkeys)->get } ),
        FIORTest::hex_of( map { "v:$_" } @pkeys ),
        'the prefixed client reads them by their own names'
    );
    is(
        unpack( 'H*', $prefixed->get( $pkeys[0] )->get ),
        unpack( 'H*', "v:$pkeys[0]" ),
        'GET through the prefix'
    );
    is( $prefixed->exists(@pkeys)->get, scalar @pkeys, 'EXISTS through the prefix' );

    my $to = "$pbase:renamed:\r\n\x00";
    is( $prefixed->rename( $pkeys[1], $to )->get,   'OK', 'RENAME through the prefix' );
    is( $redis->exists( $prefix . $pkeys[1] )->get, 0,    'raw: the old key is gone' );
    is(
        unpack( 'H*', $redis->get( $prefix . $to )->get ),
        unpack( 'H*', "v:$pkeys[1]" ),
        'raw: the new key is prefix . new name'
    );

    is( $prefixed->hset( "$pbase:h", "f\x00\xff" => "\r\n" )->get, 1, 'HSET through the prefix' );
    is(
        $redis->hgetall( $prefix . "$pbase:h" )->get,
        { "f\x00\xff" => "\r\n" },
        'raw: the hash key is prefixed, the field is not'
    );

    is(
        $prefixed->del( $to, "$pbase:h", @pkeys )->get,
        scalar @pkeys + 1,
        'DEL through the prefix'
    );
    same_bytes( $redis->keys("bin:\x00\xff:$pbase:*")->get, [], 'none left' );
    $prefixed->disconnect;
};

my @left = ( @{ $redis->keys("$base:*")->get }, @{ $redis->keys("bin:\x00\xff:$pbase:*")->get } );
$redis->del(@left)->get if @left;
$redis->disconnect;
done_testing;
