# The prefix option puts the namespace in front of exactly the keys of a
# command — for every key-spec form: fixed positions, ranges to the end
# (with a step, or stopping before a timeout), numkeys counts (EVAL, FCALL,
# ZUNIONSTORE, LMPOP, BLMPOP, BZMPOP, SINTERCARD), keywords (XREAD and
# XREADGROUP STREAMS, GEORADIUS STORE/STOREDIST), sub-commands (OBJECT,
# XINFO, XGROUP, MEMORY), and the server's own rules for SORT STORE and
# MIGRATE KEYS. Each command runs through a prefixed client; an unprefixed
# client then reads the raw keyspace: the keys carry the prefix, values,
# fields, members, channels and patterns do not. Every case is also checked
# against the server's COMMAND GETKEYS.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Future::IO::Redis::KeyExtractor qw(extract_key_indices);
use IO::Socket::INET;
use lib 't/lib';
use FIORTest;

my $loop   = IO::Async::Loop->new;
my $srv    = FIORTest::server('plain');
my $auth   = FIORTest::server('auth');
my $prefix = "pfx:$$:";
my $p      = Future::IO::Redis->new( %$srv, prefix => $prefix );
my $raw    = Future::IO::Redis->new(%$srv);
$_->connect->get for $p, $raw;

my $fn_lib = "fiorpfx$$";
my $lua_set
    = "#!lua name=$fn_lib\n"
    . "redis.register_function('fiorpfx_set$$', function(keys, args) "
    . "return redis.call('SET', keys[1], args[1]) end)";

# [ label, [ setup commands ], [ the command ], [ keys that exist after ],
#   optional check( \&k, \&u, $reply ), optional expected reply ]
# In commands and replies 'K:name' stands for this case's name "name" as
# the caller writes it, 'P:name' for it with the prefix (as stored); in a
# check k('name') and u('name') give the same.
my @CASES = (
    [
        'SET: index 1', [], [qw(SET K:a v)], ['a'],
        sub { is( $raw->get( $_[0]->('a') )->get, 'v' ) }
    ],
    [ 'GET', [ [qw(SET K:a v)] ], [qw(GET K:a)], ['a'], undef, 'v' ],
    [ 'SET with options', [], [qw(SET K:a v EX 100 GET)], ['a'] ],
    [
        'MSET: range step 2',   [],
        [qw(MSET K:a 1 K:b 2)], [qw(a b)],
        sub { is( $raw->get( $_[0]->('b') )->get, 2 ) }
    ],
    [
        'MGET: range to end',   [ [qw(MSET K:a 1 K:b 2)] ],
        [qw(MGET K:a K:b K:c)], [qw(a b)],
        undef,                  [ 1, 2, undef ]
    ],
    [ 'DEL: range to end', [ [qw(MSET K:a 1 K:b 2 K:c 3)] ], [qw(DEL K:a K:b)], ['c'], undef, 2 ],
    [ 'EXISTS', [ [qw(MSET K:a 1 K:b 2)] ],    [qw(EXISTS K:a K:b K:x)], [qw(a b)],    undef, 2 ],
    [ 'TOUCH',  [ [qw(MSET K:a 1 K:b 2)] ],    [qw(TOUCH K:a K:b)],      [qw(a b)],    undef, 2 ],
    [ 'UNLINK', [ [qw(MSET K:a 1 K:b 2)] ],    [qw(UNLINK K:a K:b)],     [],           undef, 2 ],
    [ 'RENAME: two keys', [ [qw(SET K:a v)] ], [qw(RENAME K:a K:b)],     ['b'] ],
    [ 'COPY',             [ [qw(SET K:a v)] ], [qw(COPY K:a K:b)],       [qw(a b)], undef, 1 ],
    [ 'GETDEL',           [ [qw(SET K:a v)] ], [qw(GETDEL K:a)],         [],        undef, 'v' ],
    [
        'APPEND (value kept)', [],
        [qw(APPEND K:a K:a)],  ['a'],
        sub { is( $raw->get( $_[0]->('a') )->get, $_[1]->('a') ) }
    ],
    [
        'HSET: fields are not keys',
        [], [qw(HSET K:h K:f v)], ['h'],
        sub { is( $raw->hgetall( $_[0]->('h') )->get, { $_[1]->('f') => 'v' } ) }
    ],
    [ 'HGET', [ [qw(HSET K:h f v)] ], [qw(HGET K:h f)], ['h'], undef, 'v' ],
    [
        'LPUSH then LMOVE: two index keys',
        [ [qw(RPUSH K:l x y)] ],
        [qw(LMOVE K:l K:m LEFT RIGHT)],
        [qw(l m)], sub { is( $raw->lrange( $_[0]->('m'), 0, -1 )->get, ['x'] ) }
    ],
    [
        'LINSERT: pivot and value are not keys',
        [ [qw(RPUSH K:l x)] ],
        [qw(LINSERT K:l BEFORE x K:y)],
        ['l'],
        sub { is( $raw->lrange( $_[0]->('l'), 0, -1 )->get, [ $_[1]->('y'), 'x' ] ) }
    ],
    [
        'BLPOP: keys then a timeout', [ [qw(RPUSH K:b x)] ],
        [qw(BLPOP K:a K:b 1)],        [],
        undef,                        [ 'P:b', 'x' ]
    ],
    [ 'LMPOP: numkeys', [ [qw(RPUSH K:b x y)] ], [qw(LMPOP 2 K:a K:b LEFT COUNT 1)], ['b'] ],
    [ 'BLMPOP: timeout, then numkeys', [ [qw(RPUSH K:b x)] ], [qw(BLMPOP 1 2 K:a K:b RIGHT)], [] ],
    [
        'SADD: members are not keys',
        [], [qw(SADD K:s K:m)], ['s'],
        sub { is( $raw->smembers( $_[0]->('s') )->get, [ $_[1]->('m') ] ) }
    ],
    [
        'SINTERSTORE: destination and sources',
        [ [qw(SADD K:s m n)], [qw(SADD K:t m)] ],
        [qw(SINTERSTORE K:d K:s K:t)],
        [qw(d s t)],
        sub { is( $raw->smembers( $_[0]->('d') )->get, ['m'] ) }
    ],
    [ 'SMOVE', [ [qw(SADD K:s m)] ], [qw(SMOVE K:s K:t m)], ['t'] ],
    [
        'SINTERCARD: numkeys',
        [ [qw(SADD K:s m n)], [qw(SADD K:t m)] ],
        [qw(SINTERCARD 2 K:s K:t LIMIT 5)],
        [qw(s t)], undef, 1
    ],
    [
        'ZADD: members are not keys',
        [], [qw(ZADD K:z 1 K:m)], ['z'],
        sub { is( $raw->zrange( $_[0]->('z'), 0, -1 )->get, [ $_[1]->('m') ] ) }
    ],
    [
        'ZUNIONSTORE: destination, then numkeys',
        [ [qw(ZADD K:y 1 a)], [qw(ZADD K:z 2 b)] ],
        [qw(ZUNIONSTORE K:d 2 K:y K:z WEIGHTS 1 1)],
        [qw(d y z)],
        sub { is( $raw->zrange( $_[0]->('d'), 0, -1 )->get, [qw(a b)] ) }
    ],
    [
        'ZINTERCARD: numkeys',
        [ [qw(ZADD K:y 1 a)], [qw(ZADD K:z 2 a)] ],
        [qw(ZINTERCARD 2 K:y K:z)],
        [qw(y z)], undef, 1
    ],
    [ 'ZRANGESTORE',    [ [qw(ZADD K:z 1 a 2 b)] ], [qw(ZRANGESTORE K:d K:z 0 0)], [qw(d z)] ],
    [ 'ZMPOP: numkeys', [ [qw(ZADD K:z 1 a)] ],     [qw(ZMPOP 2 K:y K:z MIN)],     [] ],
    [ 'BZMPOP: timeout, then numkeys', [ [qw(ZADD K:z 1 a)] ], [qw(BZMPOP 1 2 K:y K:z MAX)], [] ],
    [
        'EVAL: numkeys, arguments are not keys',
        [],
        [ 'EVAL', "return redis.call('SET', KEYS[1], ARGV[1])", 1, 'K:a', 'K:v' ],
        ['a'],
        sub { is( $raw->get( $_[0]->('a') )->get, $_[1]->('v') ) }
    ],
    [ 'EVAL with no keys', [], [ 'EVAL', 'return ARGV[1]', 0, 'K:v' ], [], undef, 'K:v' ],
    [
        'EVAL_RO',
        [ [qw(SET K:a v)] ],
        [ 'EVAL_RO', "return redis.call('GET', KEYS[1])", 1, 'K:a' ],
        ['a'], undef, 'v'
    ],
    [
        'FCALL: numkeys',
        [ [ 'FUNCTION', 'LOAD', 'REPLACE', $lua_set ] ],
        [ "FCALL", "fiorpfx_set$$", 1, 'K:a', 'v' ],
        ['a']
    ],
    [
        'XADD: fields and values are not keys',
        [], [qw(XADD K:s * K:f v)], ['s'],
        sub { is( $raw->xrange( $_[0]->('s'), '-', '+' )->get->[0][1], [ $_[1]->('f'), 'v' ] ) }
    ],
    [
        'XREAD: STREAMS keyword, half the rest',
        [ [qw(XADD K:s 1-1 f v)], [qw(XADD K:t 1-1 f v)] ],
        [qw(XREAD COUNT 1 STREAMS K:s K:t 0 0)],
        [qw(s t)],
        sub {
            is(
                [ sort map { $_->[0] } @{ $_[2] } ],
                [ sort map { $_[0]->($_) } qw(s t) ],
                'replies name the raw keys'
            );
        }
    ],
    [
        'XREADGROUP: after GROUP, STREAMS',
        [ [qw(XGROUP CREATE K:s streams $ MKSTREAM)], [qw(XADD K:s 1-1 f v)] ],
        [qw(XREADGROUP GROUP streams STREAMS COUNT 1 STREAMS K:s >)],
        ['s']
    ],
    [
        'XGROUP CREATE: sub-command',
        [],
        [qw(XGROUP CREATE K:s K:g $ MKSTREAM)],
        ['s'],
        sub {
            is( $raw->xinfo_groups( $_[0]->('s') )->get->[0][1],
                $_[1]->('g'), 'the group name is not a key' );
        }
    ],
    [ 'XINFO STREAM: sub-command', [ [qw(XADD K:s 1-1 f v)] ], [qw(XINFO STREAM K:s)], ['s'] ],
    [
        'OBJECT ENCODING: sub-command', [ [qw(SET K:a 12)] ],
        [qw(OBJECT ENCODING K:a)],      ['a'],
        undef,                          'int'
    ],
    [ 'MEMORY USAGE: sub-command', [ [qw(SET K:a v)] ], [qw(MEMORY USAGE K:a)], ['a'] ],

    # K:1 and K:2 exist under the prefix, so an unprefixed GET pattern finds
    # nothing (STORE keeps a miss as an empty string).
    [
        'SORT: BY and GET patterns are not keys, STORE is',
        [ [qw(RPUSH K:l 2 1)], [qw(MSET K:1 one K:2 two)] ],
        [ 'SORT', 'K:l', 'BY', 'nosort', 'GET', '#', 'GET', 'K:*', 'STORE', 'K:d' ],
        [qw(1 2 d l)],
        sub { is( $raw->lrange( $_[0]->('d'), 0, -1 )->get, [ 2, '', 1, '' ] ) }
    ],
    [ 'SORT_RO', [ [qw(RPUSH K:l 2 1)] ], [qw(SORT_RO K:l)], ['l'], undef, [ 1, 2 ] ],
    [
        'GEORADIUS: STORE keyword',
        [ [qw(GEOADD K:g 13.36 38.11 m)] ],
        [qw(GEORADIUS K:g 13.36 38.11 10 km COUNT 1 STORE K:d)],
        [qw(d g)]
    ],
    [
        'GEORADIUSBYMEMBER: STOREDIST keyword',
        [ [qw(GEOADD K:g 13.36 38.11 STORE)] ],
        [qw(GEORADIUSBYMEMBER K:g STORE 10 km STOREDIST K:d)],
        [qw(d g)]
    ],
    [
        'GEOSEARCHSTORE',
        [ [qw(GEOADD K:g 13.36 38.11 m)] ],
        [qw(GEOSEARCHSTORE K:d K:g FROMMEMBER m BYRADIUS 1 km)],
        [qw(d g)]
    ],
    [ 'PFMERGE', [ [qw(PFADD K:h a)], [qw(PFADD K:i b)] ], [qw(PFMERGE K:d K:h K:i)], [qw(d h i)] ],
    [ 'BITOP: operation, then keys', [ [qw(SET K:a x)] ],  [qw(BITOP NOT K:d K:a)],   [qw(a d)] ],
    [
        'LCS', [ [qw(SET K:a ohmytext)], [qw(SET K:b mynewtext)] ],
        [qw(LCS K:a K:b)], [qw(a b)], undef, 'mytext'
    ],
    [ 'KEYS: a pattern is not a key', [ [qw(SET K:a v)] ], [ 'KEYS', "${prefix}K:*" ], ['a'] ],
    [
        'SCAN MATCH: a pattern is not a key',
        [ [qw(SET K:a v)] ],
        [ 'SCAN', 0, 'MATCH', "${prefix}K:*", 'COUNT', 1000 ], ['a']
    ],
);

for my $case (@CASES) {
    my ( $label, $setup, $command, $exist, $check, $want ) = @$case;
    my $base = FIORTest::unique_key('pfx');
    my $k    = sub { "$prefix$base:$_[0]" };
    my $u    = sub { "$base:$_[0]" };
    my $fill;
    $fill = sub {
        map {
            my $w = $_;
            ref $w           ? [ $fill->(@$w) ]
                : defined $w ? do { $w =~ s/P:/$prefix$base:/g; $w =~ s/K:/$base:/g; $w }
                : undef
        } @_;
    };
    subtest $label => sub {
        $p->command( $fill->(@$_) )->get for @$setup;
        my @words = $fill->(@$command);
        my $reply = $p->command(@words)->get;
        is( $reply, ( $fill->($want) )[0], 'the reply' ) if @$case > 5;
        my @raw = sort @{ $raw->keys("*$base*")->get };
        is( \@raw, [ sort map { $k->($_) } @$exist ], 'exactly these raw keys, all prefixed' );
        $check->( $k, $u, $reply ) if $check;

        # The same keys as the server finds for the unprefixed command.
        my $server = eval { $raw->command( 'COMMAND', 'GETKEYS', @words )->get } // [];
        my ( $name, @args ) = @words;
        is(
            [ sort map { $args[$_] } extract_key_indices( $name, @args ) ],
            [ sort @$server ],
            'keys as COMMAND GETKEYS finds them'
        );
        $raw->del(@raw)->get if @raw;
    };
}
$raw->command( 'FUNCTION', 'DELETE', $fn_lib )->get;

subtest 'MIGRATE: the key, or the keys after KEYS (AUTH is skipped)' => sub {
    my $there = Future::IO::Redis->new(
        host     => $auth->{host},
        port     => $auth->{port},
        password => $auth->{password}
    );
    my $base = FIORTest::unique_key('migrate');
    $p->mset( "$base:a", 1, "$base:b", 2, "$base:c", 3 )->get;
    is(
        $p->migrate( $auth->{host}, $auth->{port}, '', 0, 5000, 'COPY', 'AUTH', $auth->{password},
            'KEYS', "$base:a", "$base:b" )->get,
        'OK',
        'KEYS form'
    );
    is( $p->migrate( $auth->{host}, $auth->{port}, "$base:c", 0, 5000 )->get,
        'OK', 'single key form' );
    is(
        [ sort @{ $there->keys("*$base*")->get } ],
        [ map { "$prefix$base:$_" } qw(a b c) ],
        'the keys arrived under their prefixed names'
    );
    is(
        [ sort @{ $raw->keys("*$base*")->get } ],
        [ map { "$prefix$base:$_" } qw(a b) ],
        'COPY kept a and b here'
    );
    $there->del( map { "$prefix$base:$_" } qw(a b c) )->get;
    $raw->del( map { "$prefix$base:$_" } qw(a b) )->get;
};

subtest 'channels are not keys' => sub {
    my $base = FIORTest::unique_key('chan');
    for my $kind ( [ SUBSCRIBE => 'PUBLISH' ], [ SSUBSCRIBE => 'SPUBLISH' ] ) {
        my ( $sub_cmd, $pub_cmd ) = @$kind;

        # A bare subscriber on the unprefixed channel (our client refuses
        # SUBSCRIBE on a shared connection).
        my $sock = IO::Socket::INET->new( PeerAddr => $srv->{host}, PeerPort => $srv->{port} )
            or die "connect: $!";
        my $channel = "$base:$pub_cmd";
        print {$sock} "*2\r\n\$"
            . length($sub_cmd)
            . "\r\n$sub_cmd\r\n\$"
            . length($channel)
            . "\r\n$channel\r\n";
        my $got = '';
        sysread( $sock, $got, 4096, length $got ) until $got =~ /:1\r\n\z/;
        is( $p->command( $pub_cmd, $channel, 'hello' )->get,
            1, "$pub_cmd reached the unprefixed channel" );
        close $sock;
    }
};

# Regressions: keywords and counts the server reads more loosely than we
# did let keys escape the prefix.
subtest 'keywords and counts as the server reads them' => sub {
    require Math::BigInt;
    my $base = FIORTest::unique_key('loose');
    $p->rpush( "$base:l", 1 )->get;
    $p->sort( "$base:l", "STORE\0junk", "$base:d" )->get;
    $p->eval( "return redis.call('SET', KEYS[1], 'x')", Math::BigInt->new(1), "$base:e" )->get;
    $p->georadius( "$base:g", 1, 2, 3, 'km', 'STORE', "$base:s1", 'STORE', "$base:s2" )->get
        if $p->geoadd( "$base:g", 1, 2, 'm' )->get;
    my @raw = sort @{ $raw->keys("*$base*")->get };
    is( \@raw, [ map { "$prefix$base:$_" } qw(d e g l s2) ], 'every key carries the prefix' );
    $raw->del(@raw)->get;
};

subtest 'binary and UTF-8 keys join the prefix as bytes' => sub {
    my $base = FIORTest::unique_key('bytes');
    my $text = "pr\x{e9}:";
    utf8::upgrade($text);    # text, not the byte \xe9
    my $wide = Future::IO::Redis->new( %$srv, prefix => $text );
    $wide->set( "$base:\x{263a}", 1 )->get;
    $wide->set( "$base:\xff\x00", 2 )->get;
    my @raw = sort @{ $raw->keys("*$base*")->get };
    is(
        \@raw,
        [ sort "pr\xc3\xa9:$base:\xe2\x98\xba", "pr\xc3\xa9:$base:\xff\x00" ],
        'prefix and text key as UTF-8, a binary key unchanged'
    );
    $raw->del(@raw)->get;
};

subtest 'a prefixed client keeps working after bad input' => sub {
    my $f = $p->get(undef);
    ok( $f->failure, 'undef key fails' );
    like( $f->failure->message, qr/argument 1/, 'naming the argument' );
    my $key = FIORTest::unique_key('after');
    is( $p->set( $key, 'v' )->get,     'OK', 'next command is fine' );
    is( $raw->get("$prefix$key")->get, 'v',  'under the prefix' );
    $raw->del("$prefix$key")->get;
};

done_testing;
