# Lua scripting and functions, under RESP2 and RESP3: EVAL, EVALSHA, FCALL
# and FCALL_RO pass their keys and arguments through (a library with a
# unique name is loaded and deleted again); evalsha_or_eval falls back to
# EVAL for a sha the server does not know and uses EVALSHA for one it does;
# a Future::IO::Redis::Script has the SHA1 hex of its source as ->sha, and
# ->call / ->call_with_keys / ->run give the script's result and write the
# keys they were given; scripts keep working after SCRIPT FLUSH (on a
# private server: also with 20 calls in flight at once); script errors
# (redis.error_reply, Lua runtime errors, errors of redis.call, even a
# script that itself answers NOSCRIPT) fail with an Error::Redis and the
# client stays usable; the prefix option applies to script keys (not to
# ARGV) for every way of running a script; binary arguments round-trip.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Digest::SHA qw(sha1_hex);
use Time::HiRes qw(time);
use lib 't/lib';
use FIORTest;
use FIORServer;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');

# Waits at most $secs for $f; a future that has not finished by then is
# cancelled and reported as 'still pending' (the test fails instead of hanging).
sub bounded {
    my ( $secs, $f ) = @_;
    my $guard = $loop->delay_future( after => $secs )->then( sub { Future->done('__HUNG__') } );
    $loop->await( Future->wait_any( $f, $guard ) );
    return $f;
}

# Sets KEYS[i] to ARGV[i] for every key, returns {KEYS..., '|', ARGV...}.
my $lua_setall = <<'LUA';
local out = {}
for i, k in ipairs(KEYS) do
    redis.call('SET', k, ARGV[i])
    out[#out + 1] = k
end
out[#out + 1] = '|'
for _, a in ipairs(ARGV) do out[#out + 1] = a end
return out
LUA

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key("scripts$protocol");

        subtest 'EVAL and EVALSHA with keys and args' => sub {
            my ( $k1, $k2 ) = ( "$base:eval:1", "$base:eval:2" );
            is(
                $redis->eval( 'return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}',
                    2, $k1, $k2, 'a1', 'a2', 'a3' )->get,
                [ $k1, $k2, 'a1', 2, 3 ],
                'EVAL: keys and args arrive in place'
            );
            is( $redis->eval( 'return 42',    0 )->get, 42,    'EVAL of a number' );
            is( $redis->eval( 'return "str"', 0 )->get, 'str', 'EVAL of a string' );
            is( $redis->eval( 'return nil',   0 )->get, undef, 'EVAL of nil: undef' );
            is( $redis->eval( "return redis.status_reply('FINE')", 0 )->get,
                'FINE', 'a status reply' );

            is(
                $redis->eval( $lua_setall, 2, $k1, $k2, 'v1', 'v2' )->get,
                [ $k1, $k2, '|', 'v1', 'v2' ],
                'EVAL that writes two keys'
            );
            is( $redis->mget( $k1, $k2 )->get, [ 'v1', 'v2' ], '... both keys written' );

            my $sha = sha1_hex($lua_setall);
            is( $redis->script_load($lua_setall)->get, $sha, 'SCRIPT LOAD gives the sha1' );
            is(
                $redis->evalsha( $sha, 1, $k1, 'w1' )->get,
                [ $k1, '|', 'w1' ],
                'EVALSHA with a key and an arg'
            );
            is( $redis->mget( $k1, $k2 )->get, [ 'w1', 'v2' ], '... only KEYS[1] written' );
            is( $redis->del( $k1, $k2 )->get,  2,              'cleanup' );
        };

        subtest 'FCALL and FCALL_RO' => sub {
            my $lib  = "fiorscr_${$}_$protocol";
            my $code = <<"LUA";
#!lua name=$lib
redis.register_function('${lib}_set', function(keys, args)
    redis.call('SET', keys[1], args[1])
    return {keys[1], args[1], #keys, #args}
end)
redis.register_function{function_name = '${lib}_get', flags = {'no-writes'},
    callback = function(keys, args) return redis.call('GET', keys[1]) end}
redis.register_function('${lib}_fail', function(keys, args)
    return redis.error_reply('FNERR from function')
end)
LUA
            is( $redis->function_load( 'REPLACE', $code )->get,
                $lib, 'FUNCTION LOAD gives the library name' );
            my $k = "$base:fcall";
            is(
                $redis->fcall( "${lib}_set", 1, $k, 'val', 'extra' )->get,
                [ $k, 'val', 1, 2 ],
                'FCALL: keys and args arrive in place'
            );
            is( $redis->get($k)->get,                                'val', '... the key written' );
            is( $redis->fcall_ro( "${lib}_get", 1, $k )->get,        'val', 'FCALL_RO reads it' );
            is( $redis->fcall( "${lib}_get", 1, "$k:missing" )->get, undef, 'nil: undef' );
            my $err = FIORTest::redis_error_ok( $redis, $redis->fcall( "${lib}_fail", 0 ),
                'FNERR', 'a function error' );
            like( $err->message, qr/from function/, '... with its message' );
            FIORTest::redis_error_ok(
                $redis, $redis->fcall( "${lib}_nope", 0 ),
                'ERR',  'FCALL of an unknown function'
            );

            is( $redis->function_delete($lib)->get, 'OK', 'FUNCTION DELETE' );
            FIORTest::redis_error_ok(
                $redis, $redis->fcall( "${lib}_set", 1, $k, 'x' ),
                'ERR',  'the deleted function is gone'
            );
            is( $redis->get($k)->get, 'val', '... and wrote nothing' );
            $redis->del($k)->get;
        };

        subtest 'evalsha_or_eval' => sub {

            # A script no server has seen: its sha is unknown.
            my $lua = "return {'fallback', KEYS[1], ARGV[1]} -- $$ $protocol " . time;
            my $sha = sha1_hex($lua);
            my $k   = "$base:eoe";
            is( $redis->script_exists($sha)->get, [0], 'the sha is unknown to the server' );
            is(
                $redis->evalsha_or_eval( $sha, $lua, 1, $k, 'arg' )->get,
                [ 'fallback', $k, 'arg' ],
                'unknown sha: falls back to EVAL and gives its result'
            );
            is( $redis->script_exists($sha)->get, [1], '... and the server knows it now' );
            is(
                $redis->evalsha_or_eval( $sha, $lua, 1, $k, 'again' )->get,
                [ 'fallback', $k, 'again' ],
                'known sha: the same result'
            );

            # A sha that does not even belong to the source: EVAL of the source.
            is( $redis->evalsha_or_eval( 'f' x 40, 'return ARGV[1] .. "!"', 0, 'x' )->get,
                'x!', 'a sha nobody has: EVAL of the source' );
            is( $redis->evalsha_or_eval( sha1_hex('return 7'), 'return 7', 0 )->get,
                7, 'numkeys 0, no args' );
            my $err = FIORTest::redis_error_ok(
                $redis,
                $redis->evalsha_or_eval(
                    sha1_hex("return redis.error_reply('EOE bad') -- $$"),
                    "return redis.error_reply('EOE bad') -- $$",
                    0
                ),
                'EOE',
                'an error of the fallen-back script'
            );
            like( $err->message, qr/bad/, '... its message' );
            is( $redis->exists($k)->get, 0, 'the script wrote nothing' );
        };

        subtest 'Script objects' => sub {
            my $s = $redis->script($lua_setall);
            isa_ok( $s, ['Future::IO::Redis::Script'], 'script() gives a Script' );
            is( $s->sha, sha1_hex($lua_setall), '->sha is the SHA1 hex of the source' );
            like( $s->sha, qr/\A[0-9a-f]{40}\z/, '... 40 lower-case hex digits' );
            my $other = $redis->script('return 1');
            is( $other->sha, sha1_hex('return 1'), 'another script, its own sha' );

            my ( $k1, $k2, $k3 ) = map { "$base:obj:$_" } 1 .. 3;
            is( $s->call( 'a', 'b' )->get, [ '|', 'a', 'b' ], '->call: numkeys 0, all argv' );
            is( $redis->exists( $k1, $k2, $k3 )->get, 0,      '... no key written' );

            is(
                $s->call_with_keys( 2, $k1, $k2, 'x1', 'x2', 'x3' )->get,
                [ $k1, $k2, '|', 'x1', 'x2', 'x3' ],
                '->call_with_keys: keys then argv'
            );
            is( $redis->mget( $k1, $k2, $k3 )->get, [ 'x1', 'x2', undef ], '... KEYS 1, 2 set' );

            is(
                $s->run( [$k3], [ 'r1', 'r2' ] )->get,
                [ $k3, '|', 'r1', 'r2' ],
                '->run(\@keys, \@argv)'
            );
            is( $redis->mget( $k1, $k2, $k3 )->get, [ 'x1', 'x2', 'r1' ], '... KEYS[1] set' );
            is( $s->run( [], [] )->get,             ['|'], '->run with no keys, no argv' );
            is(
                $s->run( [ $k1, $k2 ], [ 'y1', 'y2' ] )->get,
                [ $k1, $k2, '|', 'y1', 'y2' ],
                '->run with two keys'
            );
            is( $redis->mget( $k1, $k2, $k3 )->get, [ 'y1', 'y2', 'r1' ], '... both written' );

            is( $other->call->get,                     1,   'another script object' );
            is( $redis->script_exists( $s->sha )->get, [1], 'the script is loaded' );

            my @many = map { $s->call_with_keys( 1, "$base:obj:many:$_", "v$_" ) } 1 .. 20;
            is(
                [ map { $_->get } @many ],
                [ map { [ "$base:obj:many:$_", '|', "v$_" ] } 1 .. 20 ],
                '20 calls in flight: each its own result'
            );
            is( $redis->get("$base:obj:many:17")->get, 'v17', '... and its own key' );
            $redis->del( $k1, $k2, $k3, map { "$base:obj:many:$_" } 1 .. 20 )->get;
        };

        subtest 'script errors' => sub {
            my $err
                = FIORTest::redis_error_ok( $redis,
                $redis->eval( "return redis.error_reply('MYERR boom')", 0 ),
                'MYERR', 'EVAL of redis.error_reply' );
            like( $err->message, qr/boom/, '... its message' );

            $err = FIORTest::redis_error_ok(
                $redis, $redis->eval( 'local t = nil; return t.x', 0 ),
                'ERR',  'EVAL with a Lua runtime error'
            );
            like( $err->message, qr/nil/, '... says what went wrong' );

            my $k = "$base:err:string";
            $redis->set( $k, 'not a number' )->get;
            FIORTest::redis_error_ok( $redis,
                $redis->eval( "return redis.call('INCR', KEYS[1])", 1, $k ),
                'ERR', 'an error of redis.call' );
            is( $redis->get($k)->get, 'not a number', '... the key unchanged' );

            my $s = $redis->script("return redis.error_reply('MYERR boom') -- $$ $protocol");
            FIORTest::redis_error_ok( $redis, $s->call, 'MYERR', 'a Script object: first call' );
            FIORTest::redis_error_ok( $redis, $s->call, 'MYERR', 'a Script object: second call' );
            my $rt = $redis->script("error('runtime boom') -- $$ $protocol");
            $err = FIORTest::redis_error_ok( $redis, $rt->run( [], [] ),
                'ERR', 'a runtime error in ->run' );
            like( $err->message, qr/runtime boom/, '... its message' );

            # The script's own NOSCRIPT error must not send the client round in
            # circles: it fails like any other error.
            my $liar
                = $redis->script("return redis.error_reply('NOSCRIPT my own') -- $$ $protocol");
            my $f = bounded( 10, $liar->call );
            ok( $f->is_ready && !$f->is_cancelled,
                'a script answering NOSCRIPT itself: the call ends' );
            isa_ok(
                $f->is_failed ? $f->failure : undef,
                ['Future::IO::Redis::Error::Redis'],
                '... with an Error::Redis'
            );
            is( $f->is_failed && ref $f->failure ? $f->failure->type : undef,
                'NOSCRIPT', '... of its own type' );
            is( $redis->ping->get, 'PONG', '... and the client answers' );
            FIORTest::redis_error_ok(
                $redis,     $redis->evalsha( 'e' x 40, 0 ),
                'NOSCRIPT', 'plain EVALSHA of an unknown sha'
            );
            is( $redis->eval( 'return ARGV[1]', 0, 'alive' )->get, 'alive', 'scripts still run' );
            $redis->del($k)->get;
        };

        subtest 'prefix applies to script keys' => sub {
            my $pfx = "fiorscrpfx:$$:$protocol:";
            my $p   = Future::IO::Redis->new( %$srv, protocol => $protocol, prefix => $pfx );
            $p->connect->get;
            my $lua   = "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1]}";
            my $sha   = sha1_hex($lua);
            my $i     = 0;
            my $check = sub {
                my ( $how, $run ) = @_;
                my $k   = "$base:pfx:" . ++$i;
                my $val = "$pfx-not-a-key-$i";
                is(
                    $run->( $k, $val )->get,
                    [ "$pfx$k", $val ],
                    "$how: the script sees the prefixed key, the plain ARGV"
                );
                is( $redis->get("$pfx$k")->get, $val, "$how: an unprefixed client sees $pfx$k" );
                is( $redis->exists($k)->get,    0,    "$how: no unprefixed key" );
                is( $p->get($k)->get,           $val, "$how: the prefixed client reads it back" );
                $redis->del("$pfx$k")->get;
            };
            $check->( 'EVAL', sub { $p->eval( $lua, 1, @_ ) } );
            $redis->script_load($lua)->get;
            $check->( 'EVALSHA',                 sub { $p->evalsha( $sha, 1, @_ ) } );
            $check->( 'evalsha_or_eval (known)', sub { $p->evalsha_or_eval( $sha, $lua, 1, @_ ) } );

            my $fresh = "$lua -- fresh $$ $protocol " . time;
            is( $redis->script_exists( sha1_hex($fresh) )->get, [0], 'a fresh script' );
            $check->(
                'evalsha_or_eval (fallback)',
                sub { $p->evalsha_or_eval( sha1_hex($fresh), $fresh, 1, @_ ) }
            );
            my $obj = $p->script( "$lua -- obj $$ $protocol " . time );
            $check->( 'Script->call_with_keys', sub { $obj->call_with_keys( 1, @_ ) } );
            $check->( 'Script->run',            sub { $obj->run( [ $_[0] ], [ $_[1] ] ) } );

            is( $p->script('return ARGV[1]')->call('plain')->get,
                'plain', 'Script->call: ARGV not prefixed' );

            my $lib = "fiorscrpfx_${$}_$protocol";
            $redis->function_load( 'REPLACE',
                      "#!lua name=$lib\nredis.register_function('${lib}_f', function(keys, args) "
                    . "redis.call('SET', keys[1], args[1]); return {keys[1], args[1]} end)" )->get;
            $check->( 'FCALL', sub { $p->fcall( "${lib}_f", 1, @_ ) } );
            $redis->function_delete($lib)->get;
            $p->disconnect;
        };

        subtest 'binary arguments round-trip' => sub {
            my $bin  = join '', map { chr } 0 .. 255;
            my $big  = join '', map { chr( ( $_ * 7 + 3 ) % 256 ) } 1 .. 100_000;
            my $bkey = "$base:bin:\0\xff\r\n key";
            my $lua  = "redis.call('SET', KEYS[1], ARGV[1]); return {KEYS[1], ARGV[1], ARGV[2]}";

            my $got = $redis->eval( $lua, 1, $bkey, $bin, "\r\n\$3\r\n" )->get;
            FIORTest::bytes_are( $got->[0], $bkey,              'EVAL: a binary key' );
            FIORTest::bytes_are( $got->[1], $bin,               'EVAL: all 256 byte values' );
            FIORTest::bytes_are( $got->[2], "\r\n\$3\r\n",      'EVAL: protocol-like bytes' );
            FIORTest::bytes_are( $redis->get($bkey)->get, $bin, '... stored as they were' );

            my $s = $redis->script($lua);
            $got = $s->run( [$bkey], [ $big, '' ] )->get;
            FIORTest::bytes_are( $got->[1], $big, 'Script->run: 100 kB of binary' );
            is( $got->[2], '', '... an empty argument stays empty' );
            FIORTest::bytes_are( $redis->get($bkey)->get, $big, '... stored' );

            my $hi = "caf\xe9 \xff\xfe";
            FIORTest::bytes_are( $redis->script('return ARGV[1]')->call($hi)->get,
                $hi, 'Script->call: high bytes' );
            $redis->del($bkey)->get;
        };

        is( $redis->keys("$base:*")->get, [], 'no key of this subtest left behind' );
        $redis->disconnect;
    };
}

# SCRIPT FLUSH empties the whole script cache: only on a server of our own.
subtest 'scripts survive SCRIPT FLUSH (private server)' => sub {
    my $server = FIORServer->new;
    for my $protocol ( 2, 3 ) {
        my $r = Future::IO::Redis->new(
            host     => '127.0.0.1',
            port     => $server->port,
            protocol => $protocol
        );
        $r->connect->get;
        my $lua = "return {'flushed', KEYS[1], ARGV[1]} -- $protocol";
        my $s   = $r->script($lua);
        my $k   = "flush:$protocol";

        is(
            $s->call_with_keys( 1, $k, 'one' )->get,
            [ 'flushed', $k, 'one' ],
            "RESP$protocol: first call"
        );
        is( $r->script_exists( $s->sha )->get, [1],  '... the script is loaded' );
        is( $r->script_flush('SYNC')->get,     'OK', 'SCRIPT FLUSH' );
        is( $r->script_exists( $s->sha )->get, [0],  '... the cache is empty' );
        FIORTest::redis_error_ok( $r, $r->evalsha( $s->sha, 1, $k, 'x' ),
            'NOSCRIPT', 'plain EVALSHA now fails' );
        is(
            $s->call_with_keys( 1, $k, 'two' )->get,
            [ 'flushed', $k, 'two' ],
            'the script object still works'
        );
        is( $r->script_exists( $s->sha )->get, [1], '... and is loaded again' );

        $r->script_flush('SYNC')->get;
        is( $s->run( [$k], ['three'] )->get, [ 'flushed', $k, 'three' ], '->run after a flush' );
        $r->script_flush('SYNC')->get;
        is( $s->call->get, ['flushed'], '->call after a flush (no keys: the table ends)' );
        $r->script_flush('SYNC')->get;
        is(
            $r->evalsha_or_eval( $s->sha, $lua, 1, $k, 'four' )->get,
            [ 'flushed', $k, 'four' ],
            'evalsha_or_eval after a flush'
        );

        $r->script_flush('SYNC')->get;
        my @f = map { $s->call_with_keys( 1, "$k:$_", "v$_" ) } 1 .. 20;
        is(
            [ map { $_->get } @f ],
            [ map { [ 'flushed', "$k:$_", "v$_" ] } 1 .. 20 ],
            '20 calls in flight after a flush: each its own result'
        );
        is( $r->ping->get, 'PONG', 'the client answers' );
        $r->disconnect;
    }

    # A known sha goes out as EVALSHA (no needless EVAL of the source).
    my $r = Future::IO::Redis->new( host => '127.0.0.1', port => $server->port );
    $r->connect->get;
    my $calls = sub {
        my $stats = $r->info('commandstats')->get->{commandstats};
        return {
            map { my ($c) = ( $stats->{"cmdstat_$_"} // '' ) =~ /calls=(\d+)/; ( $_ => $c // 0 ) }
                qw(eval evalsha) };
    };
    my $lua = 'return ARGV[1]';
    my $s   = $r->script($lua);
    is( $s->call('warm')->get, 'warm', 'a first call loads the script' );
    my $before = $calls->();
    is( $s->call('a')->get,                                'a', '->call' );
    is( $r->evalsha_or_eval( $s->sha, $lua, 0, 'b' )->get, 'b', 'evalsha_or_eval' );
    is( $s->run( [], ['c'] )->get,                         'c', '->run' );
    my $after = $calls->();
    is( $after->{evalsha} - $before->{evalsha}, 3, 'a loaded script runs by EVALSHA' );
    is( $after->{eval} - $before->{eval},       0, '... never by EVAL' );
    $r->disconnect;
};

done_testing;
