# The futures the client gives (Future::IO::Redis::Future mixed in front of
# the loop's class). A done future whose one result is a defined plain
# scalar stringifies, compares (eq, is()) and interpolates as that value;
# any other (undef, a reference or several results; pending, failed or
# cancelled) as Class=HASH(0x...). A future is always true, even for a
# result of 0 or '', and == compares identity. A method a future does not
# have goes to the object it holds (a client from $loop->await of
# Pool->acquire: set, incr, hgetall ...), and so does get($key), while get
# without arguments is Future's; otherwise "Can't locate object method".
# Future's own messages (->done on a done future, a lost sequence future)
# show the Class=HASH form, never the value. Pool->release takes the done
# future of an acquire. The futures are IO::Async::Future and Future, and
# Future's combinators (needs_all, wait_any, then, followed_by,
# without_cancel) work on them.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO;
use Future::IO::Redis;
use Future::IO::Redis::Pool;
use Scalar::Util qw(refaddr);
use lib 't/lib';
use FIORTest;

alarm 60;    # a hang fails the file instead

my $loop  = IO::Async::Loop->new;
my $srv   = FIORTest::server('plain');
my $base  = FIORTest::unique_key('futures');
my $redis = Future::IO::Redis->new(%$srv);
$redis->connect->get;
my @keys;

sub key {
    my ($name) = @_;
    push @keys, "$base:$name";
    return "$base:$name";
}

# A future's default string: Class=HASH(0x...).
sub default_string {
    my ($f) = @_;
    return match qr/\A\Q${\ ref $f}\E=HASH\(0x[0-9a-f]+\)\z/;
}

# The result of a command's future (what else it is, when it is not one).
sub value_of {
    my ($f) = @_;
    return 'not a future: ' . overload::StrVal($f) unless ref $f && $f->isa('Future');
    return $loop->await($f)->result;
}

subtest 'a done future with a plain scalar reads as its value' => sub {
    my $k   = key('value');
    my $set = $loop->await( $redis->set( $k, 'the-value' ) );
    isa_ok( $set, ['Future::IO::Redis::Future'], '$loop->await gives the future' );
    is( "$set", 'OK', 'stringifies as its value' );
    ok( $set eq 'OK', 'eq' );
    ok( $set ne 'NO', 'ne' );
    is( $set, 'OK', 'is()' );

    my $get = $loop->await( $redis->get($k) );
    is( $get,                 'the-value',        'GET: is()' );
    is( "got $get",           'got the-value',    'interpolated' );
    is( length $get,          length 'the-value', 'length' );
    is( $get . '!',           'the-value!',       'concatenated' );
    is( [ sort $get, 'a-b' ], [ 'a-b', $get ],    'sorted as a string' );
    is( $get->result,         'the-value',        'still a future' );

    my $n = $loop->await( $redis->incr( key('n') ) );
    is( $n, 1, 'INCR: is() 1' );
    ok( $n eq '1', '... eq "1"' );

    my $chained = $redis->ping->then( sub { Future->done('chained') } );
    $loop->await($chained);
    is( $chained, 'chained', 'a future made by then' );
};

subtest 'other futures stringify as Class=HASH(0x...)' => sub {
    my $k       = key('others');
    my $blocker = Future::IO::Redis->new(%$srv);
    $blocker->connect->get;
    my %future = (
        'undef result'     => $loop->await( $redis->get( key('missing') ) ),
        'array reference'  => $loop->await( $redis->lrange( key('missing-list'), 0, -1 ) ),
        'hash reference'   => $loop->await( $redis->hgetall( key('missing-hash') ) ),
        'two results'      => $loop->await( $redis->ping->then( sub { Future->done( 1, 2 ) } ) ),
        'no result'        => $loop->await( $redis->ping->then( sub { Future->done } ) ),
        'failed'           => $loop->await( $redis->command( 'FIORNOSUCHCOMMAND', 'x' ) ),
        'failed with text' => $loop->await( $redis->ping->then( sub { Future->fail('oops') } ) ),
    );
    my $pending = $blocker->blpop( $k, 0.2 );
    $future{pending} = $pending;
    my $cancelled = $blocker->blpop( $k, 5 );
    $cancelled->cancel;
    $future{cancelled} = $cancelled;

    ok( $future{failed}->is_failed, 'an error reply fails' );
    ok( !$pending->is_ready,        'BLPOP is pending' );
    ok( $cancelled->is_cancelled,   'cancelled' );
    is( [ $future{'two results'}->result ], [ 1, 2 ], 'two results' );
    for my $what ( sort keys %future ) {
        my $f = $future{$what};
        isa_ok( $f, ['Future::IO::Redis::Future'], "$what: one of ours" );
        is( "$f", default_string($f),   "$what: Class=HASH(0x...)" );
        is( "$f", overload::StrVal($f), '... as without the mixin' );
        ok( $f ne 'oops' && $f ne '', '... and compares so' );
    }
    is( $loop->await($pending)->result, undef,                    'BLPOP timed out (nil)' );
    is( "$pending",                     default_string($pending), '... still Class=HASH(0x...)' );
    $blocker->disconnect;
};

subtest 'a future is always true' => sub {
    my ( $empty, $zero ) = ( key('bool-empty'), key('bool-zero') );
    $redis->set( $empty, '' )->get;
    $redis->set( $zero,  '0' )->get;
    my %future = (
        'EXISTS 0' => $loop->await( $redis->exists( key('bool-missing') ) ),
        q{''}      => $loop->await( $redis->get($empty) ),
        q{'0'}     => $loop->await( $redis->get($zero) ),
        'undef'    => $loop->await( $redis->get( key('bool-missing') ) ),
        'failed'   => $loop->await( $redis->command('FIORNOSUCHCOMMAND') ),
        'pending'  => $redis->ping,
        'done(0)'  => $loop->await( $redis->ping->then( sub { Future->done(0) } ) ),
    );
    is( "$future{'EXISTS 0'}", '0', 'EXISTS: 0 as a string' );
    is( "$future{q{''}}",      '',  q{GET: '' as a string} );
    is( "$future{q{'0'}}",     '0', q{GET: '0' as a string} );
    for my $what ( sort keys %future ) {
        my $f = $future{$what};
        ok( $f,   "$what: true" );
        ok( !!$f, '... !! too' );
        is( ( $f ? 'yes' : 'no' ), 'yes', '... in ?:' );
        ok( !( !$f ), '... ! is false' );
    }
    $future{pending}->get;
};

subtest '== compares identity' => sub {
    my $k  = key('identity');
    my $f1 = $loop->await( $redis->set( $k, 'same' ) );
    my $f2 = $loop->await( $redis->set( $k, 'same' ) );
    is( [ "$f1", "$f2" ], [ 'OK', 'OK' ], 'two done futures with the same value' );
    ok( $f1 eq $f2,      '... eq' );
    ok( !( $f1 == $f2 ), '... not ==' );
    ok( $f1 != $f2,      '... !=' );
    ok( $f1 == $f1,      'a future == itself' );
    my $same = $f1;
    ok( $same == $f1, '... and a copy of the reference' );
    is( 0 + $f1, refaddr($f1), 'as a number: its address' );

    my $n1 = $loop->await( $redis->incr( key('identity-n') ) );
    my $n2 = $loop->await( $redis->ping->then( sub { Future->done(1) } ) );
    is( [ "$n1", "$n2" ], [ 1, 1 ], 'two futures of 1' );
    ok( !( $n1 == $n2 ), '... not ==' );
    ok( !( $n1 == 1 ),   '... nor == 1' );
};

subtest 'a held client: its methods, get($key) too' => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, min => 1, max => 2 );
    my $conn = $loop->await( $pool->acquire );
    isa_ok( $conn, ['Future::IO::Redis::Future'], '$loop->await( $pool->acquire ) is a future' );
    isa_ok( $conn->result, ['Future::IO::Redis'], '... holding a client' );
    my $k = key('held');

    is( $loop->await( $conn->set( $k, 'held-value' ) ), 'OK', 'set' );
    my $got = $conn->get($k);
    isa_ok( $got, ['Future'], "get(\$key): a command's future" );
    is( value_of($got),                                    'held-value', "... the client's GET" );
    is( $loop->await( $conn->incr("$k:n") ),               1,            'incr' );
    is( $loop->await( $conn->hset( "$k:h", f => 'v' ) ),   1,            'hset' );
    is( $loop->await( $conn->hgetall("$k:h") )->result,    { f => 'v' }, 'hgetall' );
    is( $loop->await( $conn->exists( $k, "$k:h" ) ),       2,            'exists' );
    is( $loop->await( $conn->type($k) ),                   'string',     'type' );
    is( $loop->await( $conn->command( 'ECHO', 'hello' ) ), 'hello',      'command' );
    is( $loop->await( $conn->del( $k, "$k:n", "$k:h" ) ),  3,            'del' );
    is( value_of( $conn->get($k) ),                        undef, 'get($key) of a deleted key' );

    my $client = $conn->get;
    isa_ok( $client, ['Future::IO::Redis'], "get without arguments: Future's (the client)" );
    ok( $client == $conn->result, '... the one held' );
    ok( $conn->is_done,           'then/is_done/result stay the future\'s' );

    is( $pool->stats->{active}, 1, 'one connection lent' );
    $pool->release($conn);
    $pool->shutdown;
};

subtest 'an unknown method croaks' => sub {
    my $done    = $loop->await( $redis->ping );
    my $undef   = $loop->await( $redis->get( key('missing') ) );
    my $pending = $redis->ping;
    my $pool    = Future::IO::Redis::Pool->new( %$srv, min => 1, max => 1 );
    my $conn    = $loop->await( $pool->acquire );
    my %future  = (
        'a done future holding a string'          => $done,
        'a done future holding undef'             => $undef,
        'a pending future'                        => $pending,
        'a client that has no such method either' => $conn,
    );
    for my $what ( sort keys %future ) {
        my $f    = $future{$what};
        my $line = __LINE__ + 1;
        ok( !eval { $f->fior_no_such_method(1); 1 }, "$what: croaks" );
        like(
            $@,
            qr/\ACan't locate object method "fior_no_such_method" via package "\Q${\ ref $f}\E" at \Q${\ __FILE__}\E line $line\.$/,
            '... "Can\'t locate object method", at the caller'
        );
    }
    ok( !eval { $done->set( 'k', 'v' ); 1 }, 'a client method on a future holding a string' );
    like( $@, qr/\ACan't locate object method "set"/, '... croaks too' );
    $pending->get;
    $pool->release($conn);
    $pool->shutdown;
};

subtest "Future's own messages name the future, not its value" => sub {
    my $k     = key('messages');
    my $value = "Secr3tValue$$";
    $redis->set( $k, $value )->get;
    my $f = $loop->await( $redis->get($k) );
    is( $f, $value, 'the future reads as its value' );
    my $as_future = overload::StrVal($f);
    for my $method (qw(done fail)) {
        ok( !eval { $f->$method('again'); 1 }, "->$method on a done future croaks" );
        like( $@, qr/\A\Q$as_future\E is already done and cannot be ->$method/, '... naming it' );
        unlike( $@, qr/\Q$value\E/, '... without its value' );
    }

    my @warnings;
    {
        local $SIG{__WARN__} = sub { push @warnings, $_[0] };
        my $pending = $redis->get($k);
        $pending->then( sub { Future->done } );    # its future dropped
        $loop->await($pending);
    }
    my @lost = grep { /lost a sequence Future/ } @warnings;
    is( scalar @lost, 1, 'a dropped then-chain: "lost a sequence Future"' )
        or diag join '', @warnings;
    like( $lost[0] // '', qr/\A\Q${\ ref $f}\E=HASH\(0x[0-9a-f]+\)/, '... naming the future' );
    unlike( join( '', @warnings ), qr/\Q$value\E/, '... never the value' );
};

subtest 'Pool->release takes the done future of an acquire' => sub {
    my $pool = Future::IO::Redis::Pool->new( %$srv, min => 0, max => 2 );
    my $f1   = $loop->await( $pool->acquire );
    my $f2   = $loop->await( $pool->acquire );
    is( $pool->stats, hash { field active => 2; field idle => 0; etc }, 'two connections lent' );
    is( $loop->await( $f1->ping ), 'PONG',                              'used through the future' );
    $pool->release($f1);
    is(
        $pool->stats,
        hash { field active => 1; field idle => 1; field total => 2; etc },
        'one given back: idle 1'
    );
    $pool->release($f2);
    is( $pool->stats, hash { field active => 0; field idle => 2; field total => 2; etc },
        'both: idle 2' );
    my $again = $loop->await( $pool->acquire );
    ok( $again->result == $f1->result || $again->result == $f2->result,
        'the next acquire reuses one' );
    is( $pool->stats->{total}, 2, '... no new connection' );
    $pool->release( $again->result );
    is( $pool->stats->{idle}, 2, 'a client itself is released as before' );
    $pool->shutdown;
};

subtest 'Future and IO::Async::Future, with their combinators' => sub {
    my $k = key('combinators');
    my $f = $redis->set( $k, 10 );
    isa_ok( $f, [ 'Future::IO::Redis::Future', 'IO::Async::Future', 'Future' ], 'isa' );
    is( $f->get, 'OK', '->get runs the loop' );

    my $all = Future->needs_all( $redis->incr($k), $redis->incr($k), $redis->get($k) );
    isa_ok( $all, ['Future'], 'needs_all' );
    is( [ $all->get ], [ 11, 12, 12 ], '... its results, in order' );

    my $any = Future->wait_any( $redis->get($k), Future::IO->sleep(5) );
    is( $any->get, 12, 'wait_any: the reply wins over a sleep' );

    my $then = $redis->get($k)->then( sub { $redis->incrby( $k, $_[0] ) } );
    is( $then->get, 24, 'then: the next command with the reply' );

    my $followed = $redis->command( 'FIORNOSUCHCOMMAND', $k )->followed_by(
        sub {
            my ($failed) = @_;
            return Future->done( $failed->is_failed ? 'recovered' : 'no' );
        }
    );
    is( $followed->get, 'recovered', 'followed_by sees the failure' );

    my $else = $redis->command('FIORNOSUCHCOMMAND')->else( sub { $redis->get($k) } );
    is( $else->get, 24, 'else' );

    my $blocker = Future::IO::Redis->new(%$srv);
    $blocker->connect->get;
    my $blpop  = $blocker->blpop( "$k:list", 5 );
    my $shield = $blpop->without_cancel;
    $shield->cancel;
    ok( $shield->is_cancelled, 'without_cancel: the copy cancelled' );
    ok( !$blpop->is_ready,     '... the command still waits' );
    $redis->rpush( "$k:list", 'pushed' )->get;
    is( $blpop->get, [ "$k:list", 'pushed' ], '... and gets its reply' );

    my $mapped = $redis->get($k)->transform( done => sub { $_[0] * 2 } );
    is( $mapped->get, 48, 'transform' );
    is(
        [ Future->needs_all( map { $redis->ping } 1 .. 3 )->get ],
        [ ('PONG') x 3 ],
        'needs_all of many'
    );
    $blocker->disconnect;
};

$redis->del(@keys)->get if @keys;
$redis->disconnect;

done_testing;
